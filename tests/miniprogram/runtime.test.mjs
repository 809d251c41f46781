// The simulated runtime itself and the mini-program entry's building blocks (text codec, runtime
// detection, socket adapter, network hints), run inside the vm from pkg-template/miniprogram.
// Needs no build: the SDK end-to-end tests are in sdk.test.mjs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { ABSENT_GLOBALS, createMiniProgram, layoutPackage } = require('./sim.cjs');
const { WebSocket, WebSocketServer } = require('../node_modules/ws');

const here = path.dirname(fileURLToPath(import.meta.url));
const templateDir = path.join(here, '..', '..', 'pkg-template', 'miniprogram');
const root = layoutPackage(templateDir);

const sims = [];
function newSim(options = {}) {
  const sim = createMiniProgram(root, { WebSocket, ...options });
  sims.push(sim);
  return sim;
}
after(() => sims.forEach((s) => s.dispose()));

test('the vm has none of the globals mini-program runtimes lack, in page code and in modules', async () => {
  const sim = newSim();
  for (const name of ABSENT_GLOBALS) {
    assert.equal(await sim.runPage(`return typeof ${name};`), 'undefined', `page code sees ${name}`);
  }
  // A module of the package sees the same (its wrapper also hides window, document, self, WebSocket).
  const probe = path.join(root, 'globals-probe.js');
  writeFileSync(probe, `module.exports = [${ABSENT_GLOBALS.map((n) => `typeof ${n}`).join(', ')}];`);
  const fromModule = sim.require('./globals-probe.js');
  assert.deepEqual([...fromModule], ABSENT_GLOBALS.map(() => 'undefined'));
  const seen = await sim.runPage(`return typeof wx + ',' + typeof WXWebAssembly + ',' + typeof setTimeout;`);
  assert.equal(seen, 'object,object,function');
  // And the sim is not vacuous: the host has them.
  assert.equal(typeof globalThis.TextDecoder, 'function');
  assert.equal(typeof globalThis.WebAssembly, 'object');
});

test('TextEncoder/TextDecoder fallbacks are installed only where missing', async () => {
  const sim = newSim();
  const result = await sim.runPage(`
    const codec = require('./miniprogram_npm/tim-wasm/text-codec.js');
    const before = typeof TextDecoder;
    const classes = codec.install(globalThis);
    const nativeLike = function NativeTextEncoder() {};
    const kept = codec.install({ TextEncoder: nativeLike }).TextEncoder === nativeLike;
    return [before, typeof TextDecoder, TextDecoder === codec.FallbackTextDecoder, kept,
            classes.TextEncoder === TextEncoder, codec.TextDecoder === codec.FallbackTextDecoder];`);
  assert.deepEqual([...result], ['undefined', 'function', true, true, true, true]);
  // Where the runtime has its own codec, the module hands that one out.
  const hostCodec = createRequire(import.meta.url)('../../pkg-template/miniprogram/text-codec.js');
  assert.equal(hostCodec.TextDecoder, globalThis.TextDecoder);
});

function loadCodec(sim) {
  return sim.require('./miniprogram_npm/tim-wasm/text-codec.js');
}

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function randomString(next) {
  const pool = [
    () => String.fromCharCode(Math.floor(next() * 0x80)),
    () => String.fromCharCode(0x80 + Math.floor(next() * 0x780)),
    () => String.fromCharCode(0x800 + Math.floor(next() * 0xd000)),
    () => String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff)),
    () => String.fromCharCode(0xd800 + Math.floor(next() * 0x800)), // lone surrogate
    () => '😀',
    () => '\u0000',
    () => '\ufeff',
  ];
  let s = '';
  const len = Math.floor(next() * 24);
  for (let i = 0; i < len; i++) s += pool[Math.floor(next() * pool.length)]();
  return s;
}

test('the fallback encoder matches the native one (surrogate pairs, lone surrogates, encodeInto)', () => {
  const { FallbackTextEncoder } = loadCodec(newSim());
  const ours = new FallbackTextEncoder();
  const native = new TextEncoder();
  const next = rng(7);
  const samples = ['', 'abc', 'é', '中文', '😀', 'a😀b', '\ud800', '\udc00x', '\ud83d', 'x\ud83d\ude00\ud83d'];
  for (let i = 0; i < 2000; i++) samples.push(randomString(next));
  for (const s of samples) {
    assert.deepEqual([...ours.encode(s)], [...native.encode(s)], JSON.stringify(s));
    for (const size of [0, 1, 2, 3, 5, 8]) {
      const a = new Uint8Array(size);
      const b = new Uint8Array(size);
      const ra = ours.encodeInto(s, a);
      const rb = native.encodeInto(s, b);
      assert.deepEqual([ra.read, ra.written], [rb.read, rb.written], `encodeInto ${JSON.stringify(s)} into ${size}`);
      assert.deepEqual([...a], [...b]);
    }
  }
  assert.deepEqual([...ours.encode()], []);
});

test('the fallback decoder matches the native one on valid and invalid UTF-8', () => {
  const { FallbackTextDecoder } = loadCodec(newSim());
  const next = rng(11);
  const cases = [
    [],
    [0xef, 0xbb, 0xbf, 0x61],
    [0xf0, 0x9f, 0x98, 0x80],
    [0xed, 0xa0, 0x80], // encoded surrogate: invalid
    [0xc0, 0x80], // overlong
    [0xe0, 0x80, 0x80],
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xe4, 0xb8], // truncated
    [0xff, 0xfe, 0x41],
  ];
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(next() * 16);
    cases.push(Array.from({ length: len }, () => (next() < 0.5 ? 0x80 + Math.floor(next() * 0x80) : Math.floor(next() * 256))));
  }
  for (const ignoreBOM of [false, true]) {
    const ours = new FallbackTextDecoder('utf-8', { ignoreBOM });
    const native = new TextDecoder('utf-8', { ignoreBOM });
    for (const bytes of cases) {
      const u8 = Uint8Array.from(bytes);
      assert.equal(ours.decode(u8), native.decode(u8), `bytes ${bytes} ignoreBOM ${ignoreBOM}`);
      assert.equal(ours.decode(u8.buffer), native.decode(u8.buffer));
    }
  }
  const big = 'x😀中'.repeat(20000);
  assert.equal(new FallbackTextDecoder().decode(new TextEncoder().encode(big)), big);
  const fatal = new FallbackTextDecoder('utf-8', { fatal: true });
  assert.throws(() => fatal.decode(Uint8Array.from([0xc0, 0x80])), { name: 'TypeError' });
  assert.equal(fatal.decode(Uint8Array.from([0x61])), 'a');
  assert.throws(() => new FallbackTextDecoder('utf-16le'), { name: 'RangeError' });
  assert.equal(new FallbackTextDecoder().decode(), '');
});

test('runtime detection takes the first of qq, tt, swan, my, wx that has getSystemInfoSync', async () => {
  const sim = newSim({ platform: 'wx' });
  const { detect, ORDER } = sim.require('./miniprogram_npm/tim-wasm/runtime.js');
  assert.deepEqual([...ORDER], ['qq', 'tt', 'swan', 'my', 'wx']);
  const api = (name) => ({ name, getSystemInfoSync: () => ({}) });
  assert.equal(detect({ wx: api('wx'), qq: api('qq') }).name, 'qq');
  assert.equal(detect({ wx: api('wx'), tt: api('tt'), my: api('my') }).name, 'tt');
  assert.equal(detect({ wx: api('wx'), my: api('my') }).name, 'my');
  assert.equal(detect({ wx: api('wx'), swan: { connectSocket() {} } }).name, 'wx');
  assert.equal(detect({}), null);
  // With the globals of the simulated runtime.
  assert.equal(detect().name, 'wx');
  assert.equal(detect().api, sim.api);
  const qqSim = newSim({ platform: 'qq' });
  assert.equal(qqSim.require('./miniprogram_npm/tim-wasm/runtime.js').detect().name, 'qq');
  assert.equal(typeof qqSim.require('./miniprogram_npm/tim-wasm/runtime.js').wasmLoader().instantiate, 'function');
});

/** A WebSocket server that echoes, and closes with code 4001 on the text "bye". */
async function echoServer() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.on('listening', resolve));
  server.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'bye') ws.close(4001, 'asked to');
      else ws.send(data, { binary: isBinary });
    });
  });
  return { url: `ws://127.0.0.1:${server.address().port}/ws`, close: () => server.close() };
}

function eventOnce(socket, type) {
  return new Promise((resolve) => socket.addEventListener(type, resolve));
}

test('the WebSocket adapter over connectSocket: open, text and binary frames, close codes', { timeout: 10000 }, async () => {
  const echo = await echoServer();
  const sim = newSim();
  const { socketClass } = sim.require('./miniprogram_npm/tim-wasm/socket.js');
  const Socket = socketClass(sim.api);
  const socket = new Socket(echo.url);
  assert.equal(socket.readyState, Socket.CONNECTING);
  assert.throws(() => socket.send('early'), /still connecting/);
  await eventOnce(socket, 'open');
  assert.equal(socket.readyState, Socket.OPEN);

  const text = eventOnce(socket, 'message');
  socket.send('héllo 😀');
  assert.equal((await text).data, 'héllo 😀');

  const binary = eventOnce(socket, 'message');
  socket.send(Uint8Array.from([1, 2, 3, 250]).subarray(1, 4));
  const data = (await binary).data;
  assert.equal(Object.prototype.toString.call(data), '[object ArrayBuffer]');
  assert.ok(data instanceof sim.realm.ArrayBuffer, 'binary frames are ArrayBuffers of the runtime');
  assert.deepEqual([...new Uint8Array(data)], [2, 3, 250]);

  const closed = eventOnce(socket, 'close');
  socket.send('bye');
  const event = await closed;
  assert.deepEqual([event.code, event.reason], [4001, 'asked to']);
  assert.equal(socket.readyState, Socket.CLOSED);

  // Client-side close carries code and reason to the server.
  const other = new Socket(echo.url);
  await eventOnce(other, 'open');
  const otherClosed = eventOnce(other, 'close');
  other.close(4100, 'done');
  assert.equal((await otherClosed).code, 4100);

  // close() while connecting: no open event, one close event.
  const early = new Socket(echo.url);
  let opened = false;
  early.onopen = () => {
    opened = true;
  };
  const earlyClosed = eventOnce(early, 'close');
  early.close();
  await earlyClosed;
  assert.equal(opened, false);
  assert.equal(early.readyState, Socket.CLOSED);
  echo.close();
});

test('the WebSocket adapter reports a connectSocket failure as error then close 1006', { timeout: 10000 }, async () => {
  const sim = newSim();
  const { socketClass } = sim.require('./miniprogram_npm/tim-wasm/socket.js');
  const Socket = socketClass(sim.api);
  const original = sim.api.connectSocket;
  // A runtime that returns a task but fails the request (e.g. domain not in the legal list).
  sim.api.connectSocket = (req) => {
    const task = { onOpen() {}, onMessage() {}, onClose() {}, onError() {}, send() {}, close() {} };
    setTimeout(() => req.fail({ errMsg: 'connectSocket:fail url not in domain list' }), 0);
    return task;
  };
  const socket = new Socket('wss://not-allowed.example/ws');
  const order = [];
  socket.onerror = (e) => order.push(`error:${e.message}`);
  const closed = eventOnce(socket, 'close');
  socket.addEventListener('close', (e) => order.push(`close:${e.code}`));
  await closed;
  assert.deepEqual(order, ['error:connectSocket:fail url not in domain list', 'close:1006']);
  sim.api.connectSocket = original;
});

test('network hints: onNetworkStatusChange gives online/offline, onAppShow gives online, unwatch stops', () => {
  const sim = newSim();
  const { watchNetwork } = sim.require('./miniprogram_npm/tim-wasm/network.js');
  const hints = [];
  const unwatch = watchNetwork(sim.api, (h) => hints.push(h));
  sim.setNetwork(false);
  sim.setNetwork(true);
  sim.hide();
  sim.show();
  assert.deepEqual(hints, ['offline', 'online', 'online']);
  unwatch();
  sim.setNetwork(false);
  sim.show();
  assert.deepEqual(hints, ['offline', 'online', 'online']);
});

test('the sim loads only package paths with WXWebAssembly and resolves only tim-wasm and relative modules', async () => {
  const sim = newSim();
  await assert.rejects(sim.runPage(`return WXWebAssembly.instantiate(new Uint8Array(8), {});`), /package path/);
  await assert.rejects(sim.runPage(`return WXWebAssembly.instantiate('/nope.wasm', {});`), /no file/);
  await assert.rejects(sim.runPage(`return require('fs');`), /not defined/);
});
