// tim-wasm for Node.js, ES module: `import TIM from 'tim-wasm'`. Ready when the import resolves.
import { readFileSync } from 'node:fs';
import * as glue from './tim_wasm_bg.mjs';
import runtime from './node-runtime.cjs';

const bytes = readFileSync(new URL('./tim_wasm_bg.wasm', import.meta.url));
// `g`: the wasm's one import module (xtask/src/import_names.rs).
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { g: glue });
glue.__wbg_set_wasm(instance.exports);
instance.exports.__wbindgen_start();
runtime.installNodeDefaults(glue);

const TIM = glue.TIM;
glue.publishStatics(TIM); // Object.keys(TIM): create, EVENT, TYPES, VERSION, as in the official SDK
export default TIM;
export { TIM };
