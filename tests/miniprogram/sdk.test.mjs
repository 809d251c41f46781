// The built package's mini-program entry, in the simulated mini-program runtime, against a real tim-server:
// the documented samples as written, the `TIM.init()` contract, the multi-instance rule between a
// mini-program instance and a Node instance (N=1, both directions), logout, KICKED_OUT, the platform the
// server records, and network hints.
//
// Needs `cargo xtask build` (pkg/, or $TIM_WASM_PKG) and a tim-server binary (see ../node/lib/server.mjs).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync } from 'node:zlib';

import { startServer } from '../node/lib/server.mjs';
import { sample } from '../node/lib/doc-samples.mjs';

/** The app of these tests: N=1, a known key, the default admin. */
const APP = { sdkappid: 1400000501, key: 'c'.repeat(64), n: 1, admin: 'administrator' };

const require = createRequire(import.meta.url);
const { createMiniProgram, layoutPackage } = require('./sim.cjs');
const { WebSocket } = require('../node_modules/ws');

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const pkgDir = process.env.TIM_WASM_PKG || path.join(repoRoot, 'pkg');

let server;
let root;
const sims = [];
const nodeInstances = [];
let userCounter = 0;

/** The folder WeChat's "Build npm" copies: the package.json `miniprogram` field. */
function miniprogramFolder() {
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  assert.equal(typeof manifest.miniprogram, 'string', 'pkg/package.json needs a "miniprogram" field');
  assert.ok(
    manifest.files.some((f) => f.replace(/\/$/, '') === manifest.miniprogram.replace(/\/$/, '')),
    'the miniprogram folder is published ("files")',
  );
  const dir = path.join(pkgDir, manifest.miniprogram);
  for (const file of ['index.js', 'tim_wasm_glue.js', 'tim_wasm_bg.wasm']) {
    assert.ok(existsSync(path.join(dir, file)), `${manifest.miniprogram}/${file} is in the package`);
  }
  return dir;
}

before(async () => {
  root = layoutPackage(miniprogramFolder());
  server = await startServer({ apps: [APP] });
});
after(async () => {
  for (const sim of sims) sim.dispose();
  await Promise.all(nodeInstances.map((tim) => tim.destroy()));
  await server?.stop();
});

function freshUser(tag) {
  userCounter += 1;
  return `${tag}-${process.pid}-${userCounter}`;
}

/** A new simulated mini program (its own vm, so its own wasm module). */
function miniProgram(platform = 'wx') {
  const sim = createMiniProgram(root, { WebSocket, platform });
  sims.push(sim);
  return sim;
}

/** The page code a mini program adds: require, `await TIM.init()`, `TIM.create`. Returns `{TIM, tim}`. */
async function createInMiniProgram(sim) {
  return sim.runPage(`
    const TIM = require('tim-wasm');
    await TIM.init();
    const tim = TIM.create({ SDKAppID: ${APP.sdkappid}, serverUrl: ${JSON.stringify(server.url)} });
    tim.setLogLevel(4);
    return { TIM, tim };`);
}

/** A Node instance from the package's normal Node entry (a module of its own in this process). */
function createInNode() {
  const TIM = createRequire(path.join(pkgDir, 'package.json'))('./');
  const tim = TIM.create({ SDKAppID: APP.sdkappid, serverUrl: server.url, WebSocket });
  tim.setLogLevel(4);
  nodeInstances.push(tim);
  return { TIM, tim };
}

/** Records the SDK events of `tim` as `[name, detail]` pairs, in order. */
function record(TIM, tim) {
  const events = [];
  tim.on(TIM.EVENT.SDK_READY, () => events.push(['ready']));
  tim.on(TIM.EVENT.SDK_NOT_READY, () => events.push(['notReady']));
  tim.on(TIM.EVENT.KICKED_OUT, (e) => events.push(['kicked', e.data.type]));
  tim.on(TIM.EVENT.NET_STATE_CHANGE, (e) => events.push(['net', e.data.state]));
  return events;
}

async function waitFor(what, predicate, timeoutMs = 8000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function logsSince(sim, from) {
  return sim.logs.slice(from);
}

test('TIM.create before TIM.init() throws 8006 NOT_INITIALIZED; init is idempotent and retryable', async () => {
  const sim = miniProgram();
  const early = await sim.runPage(`
    const TIM = require('tim-wasm');
    const caught = [];
    try { TIM.create({ SDKAppID: ${APP.sdkappid}, serverUrl: 'ws://127.0.0.1:1/ws' }); } catch (e) { caught.push(e); }
    try { TIM.EVENT; } catch (e) { caught.push(e); }
    return caught.map((e) => [e instanceof Error, e.name, e.code, e.codeName, e.message]);`);
  assert.equal(early.length, 2);
  for (const [isError, name, code, codeName, message] of early) {
    assert.deepEqual([isError, name, code, codeName], [true, 'TimError', 8006, 'NOT_INITIALIZED']);
    assert.match(message, /await TIM\.init\(\) before TIM\.create\(\)/);
  }
  // A wrong wasm path rejects, and a later init() tries again.
  const wrongPath = await sim.runPage(`
    const TIM = require('tim-wasm');
    try { await TIM.init({ wasmPath: '/miniprogram_npm/tim-wasm/missing.wasm' }); return 'resolved'; }
    catch (e) { return e.message; }`);
  assert.match(wrongPath, /no file \/miniprogram_npm\/tim-wasm\/missing\.wasm/);
  const same = await sim.runPage(`
    const TIM = require('tim-wasm');
    const a = TIM.init();
    const b = TIM.init();
    await a;
    return [a === b, a === TIM.init(), TIM.EVENT.KICKED_OUT, TIM.TYPES.KICKED_OUT_MULT_ACCOUNT, typeof TIM.VERSION];`);
  assert.deepEqual([...same], [true, true, 'kickedOut', 'multipleAccount', 'string']);
});

test('TIM.init({wasmPath}) loads the wasm from another package path, e.g. brotli-compressed (.wasm.br)', async () => {
  const dir = path.join(root, 'miniprogram_npm', 'tim-wasm');
  writeFileSync(path.join(dir, 'tim.wasm.br'), brotliCompressSync(readFileSync(path.join(dir, 'tim_wasm_bg.wasm'))));
  const user = freshUser('mp-br');
  const sim = miniProgram();
  const reply = await sim.runPage(`
    const TIM = require('tim-wasm');
    await TIM.init({ wasmPath: '/miniprogram_npm/tim-wasm/tim.wasm.br' });
    const tim = TIM.create({ SDKAppID: ${APP.sdkappid}, serverUrl: ${JSON.stringify(server.url)} });
    tim.setLogLevel(4);
    const res = await tim.login({ userID: ${JSON.stringify(user)}, userSig: ${JSON.stringify(server.userSig(user))} });
    await tim.logout();
    return res.code;`);
  assert.equal(reply, 0);
});

test('without WXWebAssembly, TIM.init() rejects clearly and TIM.init({wasmLoader}) uses the given loader', async () => {
  const sim = miniProgram();
  const loader = sim.context.WXWebAssembly;
  delete sim.context.WXWebAssembly;
  const missing = await sim.runPage(`
    const TIM = require('tim-wasm');
    return TIM.init().then(() => 'resolved', (e) => e.message);`);
  assert.match(missing, /no WXWebAssembly; pass TIM\.init\(\{wasmLoader\}\)/);
  const paths = [];
  const counting = { instantiate: (p, imports) => (paths.push(p), loader.instantiate(p, imports)) };
  const version = await sim.runPage(`
    const TIM = require('tim-wasm');
    await TIM.init({ wasmLoader: counting });
    return TIM.VERSION;`, { counting });
  assert.equal(typeof version, 'string');
  assert.deepEqual(paths, ['/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm']);
});

test('the documented login, KICKED_OUT and logout samples run as written in a mini program', async () => {
  const user = freshUser('mp-sample');
  const sim = miniProgram();
  const { TIM, tim } = await createInMiniProgram(sim);
  const events = record(TIM, tim);

  let from = sim.logs.length;
  const login = sample('let promise = tim.login(')
    .replace("'your userID'", JSON.stringify(user))
    .replace("'your userSig'", JSON.stringify(server.userSig(user)));
  await sim.runPage(login, { tim, TIM });
  await waitFor('the login sample to print', () => logsSince(sim, from).length > 0);
  const [printed] = logsSince(sim, from);
  assert.equal(printed.level, 'log', `login failed: ${JSON.stringify(printed.args)}`);
  assert.equal(printed.args[0].actionStatus, 'OK');
  await waitFor('SDK_READY', () => events.some(([e]) => e === 'ready'));
  assert.equal(tim.getLoginUser(), user);

  // The server counts it as a web instance on platform wx, and the login frame said so.
  const listed = await server.onlineInstances(user);
  assert.deepEqual(listed.map((i) => i.Platform), ['wx']);
  const loginFrames = sim.sent.filter((f) => typeof f === 'string').map((f) => JSON.parse(f)).filter((f) => f.type === 'login');
  assert.equal(loginFrames.length, 1);
  assert.equal(loginFrames[0].platform, 'wx');
  assert.equal(loginFrames[0].userId, user);

  // The KICKED_OUT sample, then a second mini program logs in as the same user (N=1).
  from = sim.logs.length;
  await sim.runPage(sample('let onKickedOut = function (event) {', 'tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);'), {
    tim,
    TIM,
  });
  const other = miniProgram();
  const second = await createInMiniProgram(other);
  const secondEvents = record(second.TIM, second.tim);
  await second.tim.login({ userID: user, userSig: server.userSig(user) });
  await waitFor('the KICKED_OUT sample to print', () => logsSince(sim, from).length > 0);
  assert.deepEqual(logsSince(sim, from)[0].args, [TIM.TYPES.KICKED_OUT_MULT_ACCOUNT]);
  await waitFor('SDK_NOT_READY after the kick', () => events.some(([e]) => e === 'notReady'));
  const afterKick = events.filter(([e]) => e === 'kicked' || e === 'notReady');
  assert.deepEqual(afterKick, [['kicked', 'multipleAccount'], ['notReady']]);
  assert.equal(tim.isReady(), false);
  await waitFor('SDK_READY of the second', () => secondEvents.some(([e]) => e === 'ready'));

  // The logout sample in the second one: {code: 0, data: {}} printed as data, SDK_NOT_READY, slot freed.
  from = other.logs.length;
  await other.runPage(sample('let promise = tim.logout();'), { tim: second.tim, TIM: second.TIM });
  await waitFor('the logout sample to print', () => logsSince(other, from).length > 0);
  const [loggedOut] = logsSince(other, from);
  assert.equal(loggedOut.level, 'log', `logout failed: ${JSON.stringify(loggedOut.args)}`);
  assert.deepEqual({ ...loggedOut.args[0] }, {});
  await waitFor('SDK_NOT_READY after logout', () => secondEvents.some(([e]) => e === 'notReady'));
  assert.deepEqual(await server.onlineInstances(user), []);
});

test('N=1 between a mini program and Node: the later login kicks the earlier, in both directions', async () => {
  const user = freshUser('mp-node');
  const sig = server.userSig(user);
  const sim = miniProgram();
  const mini = await createInMiniProgram(sim);
  const miniEvents = record(mini.TIM, mini.tim);
  const node = createInNode();
  const nodeEvents = record(node.TIM, node.tim);

  const first = await mini.tim.login({ userID: user, userSig: sig });
  assert.equal(first.code, 0);
  await waitFor('mini SDK_READY', () => mini.tim.isReady());

  // Node logs in later: the mini program is kicked.
  await node.tim.login({ userID: user, userSig: sig });
  await waitFor('mini SDK_NOT_READY', () => miniEvents.some(([e]) => e === 'notReady'));
  assert.deepEqual(
    miniEvents.filter(([e]) => e === 'kicked' || e === 'notReady'),
    [['kicked', mini.TIM.TYPES.KICKED_OUT_MULT_ACCOUNT], ['notReady']],
  );
  await waitFor('node SDK_READY', () => node.tim.isReady());
  assert.deepEqual((await server.onlineInstances(user)).map((i) => i.Platform), ['node']);
  const kicked = await mini.tim.logout().then(
    () => 'resolved',
    (e) => e.code,
  );
  assert.equal(kicked, 2024, 'logout after a kick rejects with USER_NOT_LOGGED_IN');

  // The mini program logs in again, later: now Node is kicked.
  miniEvents.length = 0;
  await mini.tim.login({ userID: user, userSig: sig });
  await waitFor('node SDK_NOT_READY', () => nodeEvents.some(([e]) => e === 'notReady'));
  assert.deepEqual(
    nodeEvents.filter(([e]) => e === 'kicked' || e === 'notReady'),
    [['kicked', 'multipleAccount'], ['notReady']],
  );
  await waitFor('mini SDK_READY again', () => mini.tim.isReady());
  assert.equal(miniEvents.filter(([e]) => e === 'kicked').length, 0);
  assert.deepEqual((await server.onlineInstances(user)).map((i) => i.Platform), ['wx']);

  // Logout of the mini program: {code: 0, data: {}}, SDK_NOT_READY, the slot is free.
  const out = await mini.tim.logout();
  assert.equal(out.code, 0);
  assert.deepEqual({ ...out.data }, {});
  await waitFor('mini SDK_NOT_READY after logout', () => miniEvents.some(([e]) => e === 'notReady'));
  assert.deepEqual(await server.onlineInstances(user), []);
});

test('each detected runtime reports its own platform: qq, tt, swan, my', async () => {
  for (const platform of ['qq', 'tt', 'swan', 'my']) {
    const user = freshUser(`mp-${platform}`);
    const sim = miniProgram(platform);
    const { tim } = await createInMiniProgram(sim);
    await tim.login({ userID: user, userSig: server.userSig(user) });
    assert.deepEqual((await server.onlineInstances(user)).map((i) => i.Platform), [platform]);
    await tim.logout();
  }
});

test('network hints: offline while the socket is lost keeps it disconnected; online reconnects to the same slot', async () => {
  const user = freshUser('mp-net');
  const sim = miniProgram();
  const { TIM, tim } = await createInMiniProgram(sim);
  const events = record(TIM, tim);
  await tim.login({ userID: user, userSig: server.userSig(user) });
  await waitFor('SDK_READY', () => tim.isReady());
  const [before] = await server.onlineInstances(user);

  sim.setNetwork(false);
  sim.dropSockets();
  await waitFor('NET_STATE_CHANGE disconnected', () => events.some(([e, s]) => e === 'net' && s === 'disconnected'));
  const socketsWhileOffline = sim.sockets.length;

  events.length = 0;
  sim.setNetwork(true);
  await waitFor('NET_STATE_CHANGE connected', () => events.some(([e, s]) => e === 'net' && s === 'connected'));
  assert.ok(sim.sockets.length > socketsWhileOffline, 'the online hint opened a new socket');
  assert.equal(tim.isReady(), true);
  assert.deepEqual(events.filter(([e]) => e === 'kicked' || e === 'notReady'), []);
  const [afterResume] = await server.onlineInstances(user);
  assert.equal(afterResume.InstanceID, before.InstanceID, 'the reconnect resumed the same instance');
  assert.equal(afterResume.Platform, 'wx');
  await tim.logout();
});

test('100 login/logout cycles in a mini program leave no socket, closure or listener behind', async () => {
  const user = freshUser('mp-cycles');
  const sig = server.userSig(user);
  const sim = miniProgram();
  const { tim } = await createInMiniProgram(sim);
  await tim.login({ userID: user, userSig: sig });
  await tim.logout();
  const baseline = { ...tim.__debugCounts() };
  for (let i = 0; i < 100; i++) {
    await tim.login({ userID: user, userSig: sig });
    if (i === 0) assert.equal(tim.__debugCounts().liveSockets, baseline.liveSockets + 1, 'the counters count');
    await tim.logout();
  }
  await waitFor('every socket to close', () => sim.sockets.every((s) => s.closed));
  assert.deepEqual({ ...tim.__debugCounts() }, baseline);
  assert.equal(sim.sockets.length, 101);
});
