// Start-up in a fresh Node process. `--mode sdk` times require('tim-wasm'), which compiles and
// instantiates the wasm, and reports TIM.create separately; `--mode vendor --file F` times require of an
// official bundle only: its TIM.create opens a connection to the vendor's cloud at once, and the bench
// sends traffic to 127.0.0.0/8 only. Prints {"us": N, "create_us": M}. The `ws` package is loaded before
// timing (it is part of neither SDK).
'use strict';

const { args, wsClass, finish, skip, now } = require('./common.cjs');

const a = args();
const WS = wsClass();
try {
  const t0 = now();
  const mod = a.mode === 'vendor' ? require(a.file) : require('tim-wasm');
  const TIM = mod && mod.default ? mod.default : mod;
  const t1 = now();
  if (!TIM || typeof TIM.create !== 'function') throw new Error('the module has no TIM.create');
  let create_us = null;
  if (a.mode !== 'vendor') {
    const tim = TIM.create({ SDKAppID: 1400000000, serverUrl: 'ws://127.0.0.1:9/ws', WebSocket: WS });
    create_us = (now() - t1) * 1000;
    if (!tim) throw new Error('TIM.create returned nothing');
  }
  finish({ us: (t1 - t0) * 1000, create_us });
} catch (e) {
  skip(e);
}
