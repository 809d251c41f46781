'use strict';
// Node's runtime defaults for tim-wasm: the WebSocket constructor (the global one on Node 22+, else the
// optional peer dependency `ws`) and the platform reported to the server ("node").

function installNodeDefaults(glue) {
  let WebSocketCtor = typeof globalThis.WebSocket === 'function' ? globalThis.WebSocket : undefined;
  if (!WebSocketCtor) {
    try {
      WebSocketCtor = require('ws');
    } catch (e) {
      // Neither: logins reject with 8004 unless TIM.create({WebSocket}) gives one.
    }
  }
  glue.setRuntimeDefaults({ WebSocket: WebSocketCtor, platform: 'node' });
}

module.exports = { installNodeDefaults };
