// The built package as a user installs it: npm pack + npm install, imported BY NAME through ESM and
// CommonJS; statics, the instance cache, and create's errors. No server needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { scratchProject } from './lib/scratch.mjs';

const OFFICIAL_EVENT = {
  SDK_READY: 'sdkStateReady',
  SDK_NOT_READY: 'sdkStateNotReady',
  KICKED_OUT: 'kickedOut',
  NET_STATE_CHANGE: 'netStateChange',
  ERROR: 'error',
  SDK_DESTROY: 'sdkDestroy',
  MESSAGE_RECEIVED: 'onMessageReceived',
};
const OFFICIAL_TYPES = {
  KICKED_OUT_MULT_ACCOUNT: 'multipleAccount',
  KICKED_OUT_MULT_DEVICE: 'multipleDevice',
  KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired',
  KICKED_OUT_REST_API: 'REST_API_Kick',
  NET_STATE_CONNECTED: 'connected',
  NET_STATE_CONNECTING: 'connecting',
  NET_STATE_DISCONNECTED: 'disconnected',
  MSG_TEXT: 'TIMTextElem',
  CONV_C2C: 'C2C',
};

/** The SDK logs at level 0 by default: the probe's JSON is the last line. */
function lastJsonLine(out) {
  return JSON.parse(out.trim().split('\n').pop());
}

/** A script run inside the scratch project; it prints one JSON line. */
function runIn(kind, code) {
  const args = kind === 'esm' ? ['--input-type=module', '-e', code] : ['-e', code];
  return lastJsonLine(execFileSync(process.execPath, args, { cwd: scratchProject(), encoding: 'utf8' }));
}

const PROBE = `
  const url = 'ws://127.0.0.1:9/ws';
  const a = TIM.create({ SDKAppID: 1400000000, serverUrl: url });
  const sameForString = TIM.create({ SDKAppID: '1400000000', serverUrl: url }) === a;
  const errors = [];
  for (const bad of [undefined, {}, { SDKAppID: 'abc', serverUrl: url }, { SDKAppID: 0, serverUrl: url },
                     { SDKAppID: -3, serverUrl: url }, { SDKAppID: 1.5, serverUrl: url }, { SDKAppID: 1 },
                     { SDKAppID: 1, serverUrl: 'http://x' }, { SDKAppID: 1, serverUrl: url, WebSocket: 5 }]) {
    try { TIM.create(bad); errors.push(null); }
    catch (e) { errors.push({ isError: e instanceof Error, name: e.name, code: e.code, message: e.message }); }
  }
  const destroyed = [];
  a.on(TIM.EVENT.SDK_DESTROY, (e) => destroyed.push(e));
  await a.destroy();
  const b = TIM.create({ SDKAppID: 1400000000, serverUrl: url });
  const afterDestroy = await a.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.code);
  console.log(JSON.stringify({
    VERSION: TIM.VERSION, EVENT: TIM.EVENT, TYPES: TIM.TYPES, sameForString, errors, destroyed,
    newAfterDestroy: b !== a, afterDestroy, frozen: Object.isFrozen(TIM.EVENT) && TIM.EVENT === TIM.EVENT,
    ready: b.isReady(), user: b.getLoginUser(),
  }));
`;

function checkProbe(r) {
  const { version } = JSON.parse(readFileSync(path.join(scratchProject(), 'node_modules/tim-wasm/package.json'), 'utf8'));
  assert.equal(r.VERSION, version);
  assert.deepEqual(r.EVENT, OFFICIAL_EVENT);
  assert.deepEqual(r.TYPES, OFFICIAL_TYPES);
  assert.equal(r.frozen, true);
  assert.equal(r.sameForString, true, 'same SDKAppID (number or string) gives the same instance');
  assert.deepEqual(r.errors.map((e) => e?.code), [2000, 2000, 2000, 2000, 2000, 2000, 8003, 8003, 8002]);
  for (const e of r.errors) {
    assert.equal(e.isError, true);
    assert.equal(e.name, 'TimError');
    assert.ok(e.message.length > 10);
  }
  assert.deepEqual(r.destroyed, [{ name: 'sdkDestroy', data: { SDKAppID: 1400000000 } }]);
  assert.equal(r.newAfterDestroy, true, 'destroy frees the SDKAppID for a new instance');
  assert.equal(r.afterDestroy, 8005);
  assert.equal(r.ready, false);
  assert.equal(r.user, '');
}

test('ESM: import TIM from "tim-wasm" works with no init call', () => {
  checkProbe(runIn('esm', `import TIM from 'tim-wasm';\n${PROBE}`));
});

test('CommonJS: require("tim-wasm") works', () => {
  checkProbe(runIn('cjs', `const TIM = require('tim-wasm');\n(async () => {${PROBE}})();`));
});

test('the package declares ws as an optional peer dependency and ships its types and README', () => {
  const dir = path.join(scratchProject(), 'node_modules/tim-wasm');
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'tim-wasm');
  assert.equal(pkg.peerDependenciesMeta.ws.optional, true);
  assert.ok(readFileSync(path.join(dir, 'index.d.ts'), 'utf8').includes('login(options: LoginOptions)'));
  assert.ok(readFileSync(path.join(dir, 'README.md'), 'utf8').includes('TIM.create'));
});

test('without any WebSocket a login rejects with 8004; a WebSocket option is used instead', () => {
  const r = runIn(
    'esm',
    `import TIM from 'tim-wasm';
     const none = TIM.create({ SDKAppID: 5, serverUrl: 'ws://127.0.0.1:9/ws', WebSocket: undefined });
     const seen = [];
     class Fake { constructor(url) { seen.push(url); queueMicrotask(() => this.onclose && this.onclose({ code: 1006, reason: '' })); }
                  send() {} close() {} }
     const fake = TIM.create({ SDKAppID: 6, serverUrl: 'ws://127.0.0.1:9/ws', WebSocket: Fake });
     const viaFake = await fake.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.code);
     console.log(JSON.stringify({ seen, viaFake, counts: fake.__debugCounts(), none: typeof none.login }));`,
  );
  assert.deepEqual(r.seen, ['ws://127.0.0.1:9/ws']);
  assert.equal(typeof r.viaFake, 'number');
  assert.notEqual(r.viaFake, 0);
  assert.equal(r.counts.sockets, 0, 'a closed socket is released');
  // No WebSocket at all: a process without ws resolvable and no global WebSocket.
  const noWs = lastJsonLine(
    execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         const require = createRequire(process.cwd() + '/');
         const Module = require('node:module');
         const orig = Module._resolveFilename;
         Module._resolveFilename = function (req, ...rest) { if (req === 'ws') throw new Error('no ws'); return orig.call(this, req, ...rest); };
         const TIM = require('tim-wasm');
         const tim = TIM.create({ SDKAppID: 7, serverUrl: 'ws://127.0.0.1:9/ws' });
         const code = await tim.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.code);
         const bad = await tim.login({ userID: '', userSig: 's' }).then(() => null, (e) => e.code);
         console.log(JSON.stringify({ code, bad }));`,
      ],
      { cwd: scratchProject(), encoding: 'utf8' },
    ),
  );
  assert.deepEqual(noWs, { code: 8004, bad: 2002 });
});

test('setLogLevel: 0 logs everything through console, 2 keeps warnings and errors, 4 silences', () => {
  const r = runIn(
    'esm',
    `import TIM from 'tim-wasm';
     const seen = [];
     for (const level of ['log', 'info', 'warn', 'error']) {
       console[level] = (...args) => seen.push(level + ':' + args.join(' '));
     }
     class Refusing { constructor() { throw new Error('refused'); } }
     const tim = TIM.create({ SDKAppID: 8, serverUrl: 'ws://127.0.0.1:9/ws', WebSocket: Refusing });
     const at = {};
     for (const level of [0, 2, 4]) {
       seen.length = 0;
       tim.setLogLevel(level);
       await tim.login({ userID: 'u', userSig: 's' }).catch(() => {});
       at[level] = [...new Set(seen.map((s) => s.split(':')[0]))].sort();
     }
     seen.length = 0;
     tim.setLogLevel(9);
     const badLevel = seen.slice();
     process.stdout.write('\\n' + JSON.stringify({ at, badLevel }) + '\\n');`,
  );
  assert.ok(r.at[0].includes('log') || r.at[0].includes('info'), JSON.stringify(r.at));
  assert.ok(r.at[0].includes('warn'));
  assert.deepEqual(r.at[2].filter((l) => l === 'log' || l === 'info'), []);
  assert.ok(r.at[2].includes('warn'), 'a socket that cannot open is a warning');
  assert.deepEqual(r.at[4], []);
  assert.deepEqual(r.badLevel, [], 'at level 4 even the bad-level warning is silent');
});

/** The official shapes around create: statics, proxyServer, registerPlugin, listener names. */
const OFFICIAL_SHAPES = `
  const seen = [];
  for (const level of ['log', 'info', 'warn', 'error']) console[level] = (...args) => seen.push(level + ':' + args.join(' '));
  const keys = Object.keys(TIM);
  const spread = { ...TIM };
  const a = 'ws://127.0.0.1:9/ws';
  const b = 'ws://127.0.0.1:10/ws';
  const viaProxy = TIM.create({ SDKAppID: 31, proxyServer: a });
  const proxyOnly = seen.filter((l) => l.startsWith('warn')).length;
  const both = TIM.create({ SDKAppID: 32, serverUrl: a, proxyServer: b });
  const bothWarnings = seen.filter((l) => l.startsWith('warn') && l.includes('proxyServer'));
  let neither = null;
  try { TIM.create({ SDKAppID: 33 }); } catch (e) { neither = e.code; }
  seen.length = 0;
  viaProxy.registerPlugin({ 'tim-upload-plugin': function TIMUploadPlugin() {} });
  const pluginLog = seen.slice();
  seen.length = 0;
  viaProxy.on(TIM.EVENT.CONVERSATION_LIST_UPDATED, () => {});
  viaProxy.once(undefined, () => {});
  viaProxy.off(42, () => {});
  viaProxy.on(TIM.EVENT.SDK_READY, 'not a function');
  const listenerWarnings = seen.filter((l) => l.startsWith('warn'));
  const counts = viaProxy.__debugCounts();
  const sentUrls = [];
  class Fake { constructor(url) { sentUrls.push(url); queueMicrotask(() => this.onclose && this.onclose({ code: 1006, reason: '' })); } send() {} close() {} }
  const withFake = TIM.create({ SDKAppID: 34, proxyServer: b, WebSocket: Fake });
  await withFake.login({ userID: 'u', userSig: 's' }).catch(() => {});
  process.stdout.write('\\n' + JSON.stringify({
    keys, spreadCreate: typeof spread.create, spreadTypes: spread.TYPES === TIM.TYPES, proxyOnly,
    bothWarnings, neither, pluginLog, listenerWarnings, listeners: counts.listeners, sentUrls,
    sameBoth: typeof both.login,
  }) + '\\n');
`;

function checkOfficialShapes(r) {
  for (const key of ['create', 'EVENT', 'TYPES', 'VERSION']) assert.ok(r.keys.includes(key), `Object.keys(TIM) has ${key}: ${r.keys}`);
  assert.equal(r.spreadCreate, 'function');
  assert.equal(r.spreadTypes, true);
  assert.equal(r.proxyOnly, 0, 'proxyServer alone is accepted without a warning');
  assert.equal(r.bothWarnings.length, 1, 'serverUrl and proxyServer: one warning');
  assert.match(r.bothWarnings[0], /using serverUrl/);
  assert.equal(r.neither, 8003);
  assert.ok(r.pluginLog.some((l) => l.includes('registerPlugin') && l.includes('tim-upload-plugin')), JSON.stringify(r.pluginLog));
  assert.equal(r.listenerWarnings.length, 4, JSON.stringify(r.listenerWarnings));
  assert.match(r.listenerWarnings[0], /^warn:.*on: the event name must be a string.*got undefined/);
  assert.match(r.listenerWarnings[1], /once: .*got undefined/);
  assert.match(r.listenerWarnings[2], /off: .*got number/);
  assert.match(r.listenerWarnings[3], /on\('sdkStateReady', \.\.\.\): the listener must be a function/);
  assert.equal(r.listeners, 0, 'nothing was registered');
  assert.deepEqual(r.sentUrls, ['ws://127.0.0.1:10/ws'], 'the proxyServer URL is the one opened');
}

test('ESM: Object.keys(TIM), proxyServer, registerPlugin and listener-name warnings as the official SDK', () => {
  checkOfficialShapes(runIn('esm', `import TIM from 'tim-wasm';\n${OFFICIAL_SHAPES}`));
});

test('CommonJS: the same official shapes', () => {
  checkOfficialShapes(runIn('cjs', `const TIM = require('tim-wasm');\n(async () => {${OFFICIAL_SHAPES}})();`));
});

/** Creates 1,000 instances over 2, 3 and 4 URLs and counts the URL each one's login opens first (a
 * WebSocket option that records its URL and never opens). `hideCrypto` removes Web Crypto first, as in
 * a mini-program runtime, so that the SDK falls back to Math.random (V8's, as in Chromium). */
// Instances per URL count. More would narrow the band, but tens of thousands of instances in one Node 20
// process sometimes hit V8's "Fatal error in , line 0" (seen at 20,000 per count).
const SPREAD_INSTANCES = 1_000;

function startCounts(hideCrypto) {
  return runIn(
    'esm',
    `${hideCrypto ? "Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });" : ''}
     const { default: TIM } = await import('tim-wasm');
     let first;
     class Recorder { constructor(url) { first ??= url; } send() {} close() {} }
     const counts = {};
     let app = 1;
     for (const n of [2, 3, 4]) {
       const urls = Array.from({ length: n }, (_, i) => 'ws://127.0.0.1:9/ws' + i);
       const count = (counts[n] = Object.fromEntries(urls.map((u) => [u, 0])));
       for (let i = 0; i < ${SPREAD_INSTANCES}; i++) {
         const tim = TIM.create({ SDKAppID: app++, serverUrl: urls, WebSocket: Recorder });
         tim.setLogLevel(4);
         first = undefined;
         const login = tim.login({ userID: 'u', userSig: 's' }).catch(() => {});
         count[first] += 1;
         await tim.destroy();
         await login;
       }
     }
     console.log(JSON.stringify({ crypto: typeof globalThis.crypto, counts }));`,
  );
}

for (const hideCrypto of [false, true]) {
  test(`1,000 instances spread evenly over the URLs of a serverUrl array (${hideCrypto ? 'Math.random, no crypto' : 'Web Crypto'})`, () => {
    const r = startCounts(hideCrypto);
    assert.equal(r.crypto, hideCrypto ? 'undefined' : 'object');
    for (const [n, counts] of Object.entries(r.counts)) {
      const p = 1 / Number(n);
      const share = SPREAD_INSTANCES * p;
      // Five standard deviations of the binomial count either way (a false failure about once in
      // 100,000 runs; a band of 60 failed once at 4.4); the old seed started every instance at URL 1 of 2.
      const band = 5 * Math.sqrt(SPREAD_INSTANCES * p * (1 - p));
      for (const [url, count] of Object.entries(counts)) {
        assert.ok(Math.abs(count - share) <= band, `${url} of ${n}: ${count} (fair share ${share.toFixed(0)} ± ${band.toFixed(0)}): ${JSON.stringify(counts)}`);
      }
    }
  });
}

test('a failed connect names its URL: in the rejection, and in a warning with the reason', () => {
  const r = runIn(
    'esm',
    `import TIM from 'tim-wasm';
     const warned = [];
     console.warn = (...a) => warned.push(a.join(' '));
     // A socket whose error event gives no reason, as a browser's does; then Node's ws, refused.
     class Silent { constructor(url) { this.url = url; queueMicrotask(() => { this.onerror?.({ type: 'error' }); this.onclose?.({ code: 1006, reason: '' }); }); }
                    send() {} close() {} }
     const silent = TIM.create({ SDKAppID: 51, serverUrl: 'ws://127.0.0.1:9/silent', WebSocket: Silent, logLevel: 2 });
     const a = await silent.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.message);
     const real = TIM.create({ SDKAppID: 52, serverUrl: 'ws://127.0.0.1:9/ws' });
     const b = await real.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.message);
     process.stdout.write(JSON.stringify({ a, b, warned }) + '\\n');`,
  );
  const hint = 'browsers hide why: server down? wrong port/path? ws:// on an https page? a proxy?';
  const silent = `socket error: could not connect to ws://127.0.0.1:9/silent: ${hint}`;
  const refused = 'socket error: could not connect to ws://127.0.0.1:9/ws: connect ECONNREFUSED 127.0.0.1:9';
  assert.ok(r.a.endsWith(` closed before the login reply (code 1006: ${silent}).`), r.a);
  assert.ok(r.b.endsWith(` closed before the login reply (code 1006: ${refused}).`), r.b);
  assert.deepEqual(r.warned, [`TIM ${silent}`, `TIM ${refused}`]);
});

test('an http:// or https:// serverUrl throws 8003 naming the ws:// or wss:// URL to use, and logs it', () => {
  const r = runIn(
    'esm',
    `import TIM from 'tim-wasm';
     const logged = [];
     console.error = (...a) => logged.push(a.join(' '));
     const thrown = [];
     for (const serverUrl of ['http://127.0.0.1:9000/ws', 'https://im.example.com/ws', ['ws://a/ws', 'http://b/ws']]) {
       try { TIM.create({ SDKAppID: 1, serverUrl }); thrown.push(null); }
       catch (e) { thrown.push({ code: e.code, message: e.message }); }
     }
     console.log(JSON.stringify({ thrown, logged }));`,
  );
  const table = 'serverUrl must be a ws:// or wss:// URL.';
  assert.deepEqual(r.thrown, [
    { code: 8003, message: `${table} Use ws://127.0.0.1:9000/ws.` },
    { code: 8003, message: `${table} Use wss://im.example.com/ws.` },
    { code: 8003, message: `${table} serverUrl[1] is not. Use ws://b/ws.` },
  ]);
  // Also on the console (at error level), so that a page whose script stops there shows why.
  assert.deepEqual(r.logged, r.thrown.map((e) => `TIM ${e.message}`));
});

test('TIM.create({logLevel}) applies before the "instance created" line; a bad level warns', () => {
  const r = runIn(
    'esm',
    `import TIM from 'tim-wasm';
     const lines = [];
     for (const k of ['log', 'info', 'warn', 'error']) console[k] = (...a) => lines.push(k + ' ' + a.join(' '));
     TIM.create({ SDKAppID: 41, serverUrl: 'ws://127.0.0.1:9/ws', logLevel: 4 });
     const quiet = lines.splice(0);
     TIM.create({ SDKAppID: 42, serverUrl: 'ws://127.0.0.1:9/ws', logLevel: 1 });
     const info = lines.splice(0);
     TIM.create({ SDKAppID: 43, serverUrl: 'ws://127.0.0.1:9/ws', logLevel: 'loud' });
     const bad = lines.splice(0);
     process.stdout.write(JSON.stringify({ quiet, info, bad }) + '\\n');`,
  );
  assert.deepEqual(r.quiet, []);
  assert.deepEqual(r.info, ['info TIM instance created for SDKAppID 42']);
  assert.deepEqual(r.bad, [
    'warn TIM logLevel: the level must be an integer from 0 to 4',
    'info TIM instance created for SDKAppID 43',
  ]);
});
