// Start-up in a fresh Node process: `--mode sdk` times require('tim-wasm') (which compiles and
// instantiates the wasm) plus TIM.create; `--mode vendor --file F` times the same for an official
// bundle. Prints {"us": N}. The `ws` package is loaded before timing (it is not part of either SDK).
'use strict';

const { args, wsClass, finish, skip, now } = require('./common.cjs');

const a = args();
const WS = wsClass();
const options = { SDKAppID: 1400000000, serverUrl: 'ws://127.0.0.1:9/ws', WebSocket: WS };
try {
  const t0 = now();
  const mod = a.mode === 'vendor' ? require(a.file) : require('tim-wasm');
  const TIM = mod && mod.default ? mod.default : mod;
  const tim = TIM.create(options);
  const t1 = now();
  if (!tim) throw new Error('TIM.create returned nothing');
  finish({ us: (t1 - t0) * 1000 });
} catch (e) {
  skip(e);
}
