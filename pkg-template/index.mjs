// tim-wasm for browsers and bundlers: `import TIM from 'tim-wasm'` needs no init call. The wasm is
// fetched next to this file (bundlers rewrite `new URL(..., import.meta.url)` into an asset URL) and
// instantiated with top-level await, so `TIM` is ready when the import resolves.
import * as glue from './tim_wasm_bg.mjs';

const url = new URL('./tim_wasm_bg.wasm', import.meta.url);
const imports = { g: glue }; // the wasm's import module (xtask/src/import_names.rs)

async function instantiate() {
  if (typeof WebAssembly.instantiateStreaming === 'function') {
    try {
      return await WebAssembly.instantiateStreaming(fetch(url), imports);
    } catch (e) {
      // A server that sends another MIME type than application/wasm: fall back to bytes.
    }
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`tim-wasm: cannot load ${url}: HTTP ${response.status}`);
  return WebAssembly.instantiate(await response.arrayBuffer(), imports);
}

const { instance } = await instantiate();
glue.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();

const TIM = glue.TIM;
glue.publishStatics(TIM); // Object.keys(TIM): create, EVENT, TYPES, VERSION, as in the official SDK

// The page's connectivity events: 'online' retries a pending reconnect at once, 'offline' reports
// NET_STATE_CHANGE 'disconnected'. Registered once per page, not per connection.
if (typeof globalThis.addEventListener === 'function') {
  globalThis.addEventListener('online', () => TIM.__networkHintAll('online'));
  globalThis.addEventListener('offline', () => TIM.__networkHintAll('offline'));
}
export default TIM;
export { TIM };
