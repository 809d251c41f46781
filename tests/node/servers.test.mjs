// serverUrl as an array of URLs, against real parts: the installed package in worker threads (one SDK
// instance each), real tim-server processes, TCP proxies on 127.0.0.1 that count and refuse connections,
// and, when Debian's redis-server is installed, two tim-server nodes on one real Redis.
// The worker's random source is fixed per test so that the start URL is known (the SDK draws its seed
// at TIM.create, for the start URL and the backoff jitter); the walking rules themselves are proven in
// simulated time by crates/tim-core/tests/servers.rs, the even spread of the start URL by
// tests/node/package.test.mjs.
//
// Run: cargo build -p tim-server && cargo xtask build && node --test tests/node/servers.test.mjs

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { scratchProject } from './lib/scratch.mjs';
import { startProxy } from './support/proxy.mjs';
import { SdkClient } from './support/sdk-client.mjs';
import { TimServer, sleep } from './lib/server.mjs';

const SDK_APP_ID = 1400000321;
const LOGGED_IN = ['NET_STATE_CHANGE:connecting', 'NET_STATE_CHANGE:connected', 'SDK_READY'];
const RECONNECTED = ['NET_STATE_CHANGE:connecting', 'NET_STATE_CHANGE:connected'];
/** Random draws (32 bits each) that make the SDK start at index 0 or 1 of two URLs: the seed is two
 * draws, and tim-core's Config::seed mixes it into the start index (pinned by its unit test). */
const START_AT = [0, 4];

let workerPath;
before(() => {
  workerPath = path.join(scratchProject(), 'servers-sdk-worker.mjs');
  copyFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'sdk-worker.mjs'), workerPath);
}, { timeout: 120_000 });

async function server(t, registry = '') {
  const s = new TimServer({ apps: [{ sdkappid: SDK_APP_ID, key: `servers-key-${process.pid}`, n: 1 }], registry });
  await s.start();
  t.after(() => s.stop('SIGKILL'));
  return s;
}

async function client(t, serverUrl, start) {
  const c = await SdkClient.start(workerPath, { SDKAppID: SDK_APP_ID, serverUrl, random: START_AT[start] });
  t.after(() => c.terminate());
  return c;
}

/** A free port on 127.0.0.1 that nothing listens on (bound, then released). */
async function deadPort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('a dead URL before a live server: login succeeds on the live one, nothing else is seen', async (t) => {
  const s = await server(t);
  const dead = `ws://127.0.0.1:${await deadPort()}/ws`;
  const c = await client(t, [dead, s.url], 0);
  const reply = await c.login('alice', s.userSig('alice'));
  assert.equal(reply.code, 0);
  await c.waitFor('SDK_READY');
  assert.deepEqual(c.trace(), LOGGED_IN, 'one connecting, no ERROR for the dead URL');
  const instances = await s.onlineInstances('alice');
  assert.equal(instances.length, 1);
});

test('every URL dead: login rejects with 2800 after trying each once', async (t) => {
  const [a, b] = [await deadPort(), await deadPort()];
  const c = await client(t, [`ws://127.0.0.1:${a}/ws`, `ws://127.0.0.1:${b}/ws`], 1);
  const error = await c.fail('login', { userID: 'alice', userSig: 'any' });
  assert.equal(error.code, 2800);
  assert.equal(await c.isStopped(), true, 'no socket, no timer: nothing is retried after a failed login');
});

test('the start URL is the random one; a resume moves to the next URL when its own refuses', async (t) => {
  const s = await server(t);
  const [pa, pb] = [await startProxy(s.port), await startProxy(s.port)];
  t.after(() => Promise.all([pa.close(), pb.close()]));
  const c = await client(t, [pa.wsUrl(), pb.wsUrl()], 1);
  await c.login('bob', s.userSig('bob'));
  await c.waitFor('SDK_READY');
  assert.deepEqual([pa.accepted, pb.accepted], [0, 1], 'started at index 1, as the fixed random draws said');
  const [before] = await s.onlineInstances('bob');

  // The node behind B goes away: its connections drop and new ones are refused.
  const from = c.events.length;
  pb.setRefusing(true);
  assert.equal(pb.cutAll(), 1);
  await c.waitFor('NET_STATE_CHANGE:connected', { from, timeoutMs: 15_000 });
  assert.deepEqual(c.trace(from), RECONNECTED, 'silent: no SDK_NOT_READY, no KICKED_OUT');
  // (That A comes at once, not a backoff later, is proven in simulated time by the core's tests: no
  // wall-clock bound here, which a loaded machine could break.)
  assert.deepEqual([pa.accepted, pb.accepted], [1, 2], 'B (the URL that worked) once more, then A');
  const after = await s.onlineInstances('bob');
  assert.deepEqual(
    after.map((i) => i.InstanceID),
    [before.InstanceID],
    'the same instance, resumed',
  );
  // Later drops go to A, the URL that works now.
  const again = c.events.length;
  pb.setRefusing(false);
  pa.cutAll();
  await c.waitFor('NET_STATE_CHANGE:connected', { from: again, timeoutMs: 15_000 });
  assert.deepEqual([pa.accepted, pb.accepted], [2, 2]);
});

// ---- two tim-server nodes on one Redis ---------------------------------------------------------------

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

/** A redis-server on a free port, without persistence; stopped after the test. */
async function redis(t) {
  const port = await deadPort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tim-servers-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  t.after(() => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return `redis://127.0.0.1:${port}/0`;
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

test('kill -9 of the node an instance is on: it resumes on the next node of its list, same slot', { skip: !hasRedis && 'redis-server is not installed' }, async (t) => {
  const url = await redis(t);
  const node = (id) => `engine = "redis"\nurl = "${url}"\nnode_id = "${id}"\nreconcile_interval_ms = 1000\nnode_ttl_ms = 1500`;
  const a = await server(t, node('node-a'));
  const b = await server(t, node('node-b'));
  const c = await client(t, [a.url, b.url], 0);
  await c.login('carol', a.userSig('carol'));
  await c.waitFor('SDK_READY');
  const [before] = await b.onlineInstances('carol');
  assert.equal(before.Node, 'node-a');

  const from = c.events.length;
  await a.kill9();
  await c.waitFor('NET_STATE_CHANGE:connected', { from, timeoutMs: 15_000 });
  assert.deepEqual(c.trace(from), RECONNECTED, 'silent: no SDK_NOT_READY, no KICKED_OUT');
  const after = await b.onlineInstances('carol');
  assert.deepEqual(
    after.map((i) => [i.InstanceID, i.Node]),
    [[before.InstanceID, 'node-b']],
    'the same instance, now on node B',
  );
  // The resumed session works on B.
  assert.equal(await c.isReady(), true);
  const sent = await c.sendMessage('carol', 'on node b');
  assert.equal(sent.code, 0);
});
