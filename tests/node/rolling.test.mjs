// Restarts nobody notices, against real parts: three tim-server nodes on one real Redis, the installed
// package in worker threads (21 SDK instances: 7 users with 3 instances each, online_web_instances = 3),
// each given the three nodes as a `serverUrl` array, and a small HTTP server playing the app backend
// that receives the state-change callbacks. A SIGTERM closes a node's WebSockets with 1012 (Service
// Restart); the SDK reconnects at once and resumes its instance id on another node (the Redis registry
// keeps the slot). Checked: every instance that was on the node is listed again with its id on another
// node (`query_online_instances`), each of their SDKs emitted exactly `NET_STATE_CHANGE:connecting`,
// `NET_STATE_CHANGE:connected` and nothing else (no KICKED_OUT, no SDK_NOT_READY), the others nothing at
// all, and the backend received no Logout, Disconnect or second Login; the close-to-connected times
// (p50) are well under the first reconnect backoff step (0.8 s). The second test restarts all three
// nodes one after another (SIGTERM, start again with the same node_id, wait for /readyz 200, next).
// The same rolling restart under 1,000 raw protocol clients: crates/tim-server/tests/rolling.rs.
//
// Run: cargo build -p tim-server && cargo xtask build && node --test tests/node/rolling.test.mjs

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { scratchProject } from './lib/scratch.mjs';
import { SdkClient } from './support/sdk-client.mjs';
import { TimServer, sleep } from './lib/server.mjs';

const SDK_APP_ID = 1400000654;
const USERS = 7;
const PER_USER = 3;
const MOVED = ['NET_STATE_CHANGE:connecting', 'NET_STATE_CHANGE:connected'];
/** The first reconnect backoff step's lower bound: a 1012 must be resumed well before it. */
const FIRST_BACKOFF_MS = 800;

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

let workerPath;
before(() => {
  workerPath = path.join(scratchProject(), 'rolling-sdk-worker.mjs');
  copyFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'sdk-worker.mjs'), workerPath);
}, { timeout: 120_000 });

async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A redis-server on a free port, without persistence; stopped after the test. */
async function redis(t) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tim-rolling-redis-'));
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

/** The app backend: records the body of every state-change callback, answers OK. */
async function callbackBackend(t) {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${server.address().port}/callback`, received };
}

/** `[Action, Reason]` of every callback so far. */
function actions(backend) {
  return backend.received.map((b) => `${b.Info?.Action}/${b.Info?.Reason}`);
}

async function waitUntil(what, predicate, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

async function readyz(node) {
  try {
    return (await fetch(`${node.httpUrl}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** Three nodes on one Redis with a callback backend, and USERS x PER_USER SDK instances logged in. */
async function cluster(t) {
  const url = await redis(t);
  const backend = await callbackBackend(t);
  const app = { sdkappid: SDK_APP_ID, key: `rolling-key-${process.pid}`, n: PER_USER, extra: `callback_url = "${backend.url}"` };
  const nodes = [];
  for (const id of ['node-a', 'node-b', 'node-c']) {
    const registry = `engine = "redis"\nurl = "${url}"\nnode_id = "${id}"\nreconcile_interval_ms = 1000\nnode_ttl_ms = 3000`;
    const node = new TimServer({ apps: [app], registry });
    await node.start();
    node.nodeId = id;
    t.after(() => node.stop('SIGKILL'));
    nodes.push(node);
  }
  const serverUrl = nodes.map((n) => n.url);
  const users = Array.from({ length: USERS }, (_, u) => `roller${u}`);
  const sigs = new Map(users.map((u) => [u, nodes[0].userSig(u)]));
  const clients = [];
  for (let i = 0; i < USERS * PER_USER; i += 1) {
    const c = await SdkClient.start(workerPath, { SDKAppID: SDK_APP_ID, serverUrl, label: `sdk${i}` });
    t.after(() => c.terminate());
    const user = users[i % USERS];
    await c.login(user, sigs.get(user));
    await c.waitFor('SDK_READY');
    clients.push(c);
  }
  await waitUntil('one Login callback per instance', () => backend.received.length >= clients.length);
  return { nodes, users, clients, backend };
}

/** Every listed instance of every user: Map id -> node id. */
async function listing(node, users) {
  const all = new Map();
  for (const u of users) {
    for (const i of await node.onlineInstances(u)) all.set(i.InstanceID, i.Node);
  }
  return all;
}

function percentile(sorted, p) {
  return sorted[Math.round((sorted.length - 1) * p)];
}

/**
 * SIGTERMs `nodes[k]` and waits until every instance it held is listed on another node. Checks the
 * events every SDK emitted meanwhile and returns the close-to-connected times (ms) of those that moved.
 */
async function terminateAndCheck(nodes, k, users, clients) {
  const survivor = nodes[(k + 1) % nodes.length];
  const before = await listing(survivor, users);
  assert.equal(before.size, clients.length, 'every instance listed before the restart');
  const onIt = [...before].filter(([, node]) => node === nodes[k].nodeId).map(([id]) => id);
  const from = clients.map((c) => c.events.length);

  await nodes[k].terminate();
  await waitUntil(`the ${onIt.length} instances of ${nodes[k].nodeId} listed elsewhere`, async () => {
    const now = await listing(survivor, users);
    return now.size === clients.length && onIt.every((id) => now.has(id) && now.get(id) !== nodes[k].nodeId);
  });
  const after = await listing(survivor, users);
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same instance ids, none added, none lost');

  // The SDKs that moved saw connecting then connected, nothing else; the others saw nothing.
  const moved = [];
  await waitUntil('the moved SDKs connected', () =>
    clients.every((c, i) => {
      const seen = c.events.length - from[i];
      return seen === 0 || seen >= 2;
    }),
  );
  const times = [];
  clients.forEach((c, i) => {
    const trace = c.trace(from[i]);
    if (trace.length === 0) return;
    assert.deepEqual(trace, MOVED, `${c.label}: only NET_STATE_CHANGE, no KICKED_OUT, no SDK_NOT_READY`);
    moved.push(c);
    const [connecting, connected] = c.events.slice(from[i]);
    times.push(connected.t - connecting.t);
  });
  assert.equal(moved.length, onIt.length, 'exactly the SDKs of the terminated node reconnected');
  return times.sort((a, b) => a - b);
}

function checkCallbacks(backend, clients) {
  const seen = actions(backend);
  assert.equal(seen.length, clients.length, `only the first logins, got ${JSON.stringify(seen)}`);
  assert.ok(
    seen.every((a) => a.startsWith('Login/')),
    `no Logout, Disconnect: ${JSON.stringify(seen)}`,
  );
}

test('SIGTERM of one node: its SDK instances resume on the others with their ids, silently and at once', { skip: !hasRedis && 'redis-server is not installed', timeout: 180_000 }, async (t) => {
  const { nodes, users, clients, backend } = await cluster(t);
  // The node holding the most instances (each SDK starts at a random URL of the array).
  const counts = new Map();
  for (const node of (await listing(nodes[0], users)).values()) counts.set(node, (counts.get(node) ?? 0) + 1);
  const k = nodes.findIndex((n) => n.nodeId === [...counts].sort((a, b) => b[1] - a[1])[0][0]);

  const times = await terminateAndCheck(nodes, k, users, clients);
  assert.ok(times.length > 0);
  const p50 = percentile(times, 0.5);
  console.log(
    `SIGTERM of ${nodes[k].nodeId}: ${times.length} SDK instances moved; close-to-connected p50 ${p50} ms, max ${times[times.length - 1]} ms`,
  );
  assert.ok(p50 < FIRST_BACKOFF_MS / 2, `p50 ${p50} ms is well under the first backoff step (${FIRST_BACKOFF_MS} ms)`);

  // Sessions work after the move, and the backend heard nothing about it.
  for (const c of clients) assert.equal(await c.isReady(), true);
  assert.equal((await clients[0].sendMessage(users[1], 'after the restart')).code, 0);
  await sleep(500);
  checkCallbacks(backend, clients);
  for (const c of clients) assert.ok(!c.trace().some((e) => /KICKED_OUT|SDK_NOT_READY|ERROR/.test(e)), c.trace().join(','));
});

test('rolling restart of all three nodes: every SDK instance keeps its id, nobody notices but NET_STATE_CHANGE', { skip: !hasRedis && 'redis-server is not installed', timeout: 300_000 }, async (t) => {
  const { nodes, users, clients, backend } = await cluster(t);
  const all = [];
  for (let k = 0; k < nodes.length; k += 1) {
    const times = await terminateAndCheck(nodes, k, users, clients);
    all.push(...times);
    // Its replacement: the same node_id on the same port, back in the list once /readyz answers 200.
    const startedAt = Date.now();
    await nodes[k].restart();
    await waitUntil(`${nodes[k].nodeId}'s /readyz`, async () => (await readyz(nodes[k])) === 200);
    console.log(
      `rolling: ${nodes[k].nodeId} restarted, ${times.length} SDK instances moved (p50 ${times.length ? percentile(times, 0.5) : '-'} ms), ` +
        `replacement ready ${Date.now() - startedAt} ms after its start`,
    );
  }
  all.sort((a, b) => a - b);
  const p50 = percentile(all, 0.5);
  console.log(`rolling restart: ${all.length} moves, close-to-connected p50 ${p50} ms, p99 ${percentile(all, 0.99)} ms, max ${all[all.length - 1]} ms`);
  assert.ok(p50 < FIRST_BACKOFF_MS / 2, `p50 ${p50} ms is well under the first backoff step (${FIRST_BACKOFF_MS} ms)`);
  await sleep(500);
  checkCallbacks(backend, clients);
  for (const c of clients) {
    assert.equal(await c.isReady(), true);
    assert.ok(!c.trace().some((e) => /KICKED_OUT|SDK_NOT_READY|ERROR/.test(e)), c.trace().join(','));
  }
});
