'use strict';
// Node's runtime defaults for tim-wasm: the WebSocket constructor (the global one on Node 22+, else the
// optional peer dependency `ws`) and the platform reported to the server ("node").

const { createRequire } = require('module');
const path = require('path');

/** The `ws` package: beside this package, else the app's (the main script's folder, then the cwd). */
function findWs() {
  try {
    return require('ws');
  } catch (e) {
    // Installed as a link (`npm install /path/to/tim-wasm/pkg`), this file resolves from its real folder,
    // where the app's node_modules is not on the lookup path.
  }
  const bases = [process.argv[1], path.join(process.cwd(), 'index.js')];
  for (const base of bases) {
    if (!base) continue;
    try {
      return createRequire(path.resolve(base))('ws');
    } catch (e) {
      // not there either
    }
  }
  return undefined;
}

function installNodeDefaults(glue) {
  let WebSocketCtor = typeof globalThis.WebSocket === 'function' ? globalThis.WebSocket : undefined;
  // Neither: logins reject with 8004 unless TIM.create({WebSocket}) gives one.
  if (!WebSocketCtor) WebSocketCtor = findWs();
  glue.setRuntimeDefaults({ WebSocket: WebSocketCtor, platform: 'node' });
}

module.exports = { installNodeDefaults };
