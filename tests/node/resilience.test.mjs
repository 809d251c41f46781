// Staying connected, against the real parts: a real tim-server process (kill -9 and restarted on the same
// port), the real npm package installed by name in a scratch project, one SDK instance per worker thread,
// real sockets through a TCP proxy on 127.0.0.1 that can cut, refuse or black-hole connections.
// The event sequences asserted here are the ones docs/connection.md documents. Every test owns its
// server (own port), proxy and workers, so all tests run concurrently (about the storm's length
// plus set-up). These tests check the ORDER of events against the real parts; the durations (backoff
// bounds, heartbeat death, idle timeout, login deadline, UserSig expiry) are proven in simulated time by
// the core's tests (crates/tim-core/tests) and the server's (crates/tim-server/tests/timing.rs). No test
// sleeps to prove that something does not happen: it waits for the condition that rules it out (an
// instance with no socket and no timer cannot reconnect, see SdkClient.isStopped).
//
// Run: cargo build -p tim-server && cargo xtask build && node --test tests/node/resilience.test.mjs
// (TIM_SERVER_BIN / CARGO_TARGET_DIR and TIM_WASM_PKG locate the binary and package; TIM_STORM_SECONDS the
// storm length). The package is installed by the shared ./lib/scratch.mjs, the server run by ./lib/server.mjs.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { scratchProject } from './lib/scratch.mjs';
import { startProxy } from './support/proxy.mjs';
import { SdkClient } from './support/sdk-client.mjs';
import { TimServer, sleep } from './lib/server.mjs';

const SDK_APP_ID = 1400000123;
const ADMIN = 'administrator';
const RECONNECTED = ['NET_STATE_CHANGE:connecting', 'NET_STATE_CHANGE:connected'];

let workerPath;

before(() => {
  // The shared scratch project (pkg/ installed by name, plus ws); our worker script goes next to it.
  workerPath = path.join(scratchProject(), 'resilience-sdk-worker.mjs');
  copyFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'sdk-worker.mjs'), workerPath);
}, { timeout: 120_000 });

// Every test owns its server, proxy and SDK workers (stopped by `t.after`, even when it fails), so the
// tests of a group run concurrently: most of their time is spent waiting on timers.

async function server(t, { onlineWebInstances = 1, limits = {} } = {}) {
  const s = new TimServer({
    apps: [{ sdkappid: SDK_APP_ID, key: `resilience-key-${process.pid}`, n: onlineWebInstances, admin: ADMIN }],
    limits,
  });
  await s.start();
  t.after(() => s.stop('SIGKILL'));
  return s;
}

async function proxyTo(t, s) {
  const p = await startProxy(s.port);
  t.after(() => p.close());
  return p;
}

async function client(t, serverUrl, label) {
  const c = await SdkClient.start(workerPath, { SDKAppID: SDK_APP_ID, serverUrl, label });
  t.after(() => c.terminate());
  return c;
}

/** The official npm signer, in this process: a short-lived UserSig is used the moment it is made. */
const { Api: SigApi } = createRequire(import.meta.url)('tls-sig-api-v2');

/** Logs `c` in as `userID` and checks it reached SDK_READY. */
async function loginReady(c, s, userID, expireSeconds) {
  const from = c.events.length;
  // A few-second UserSig is signed here rather than by the server's CLI (a process start on a busy
  // machine can eat most of its life before the login arrives).
  const sign = () =>
    expireSeconds === undefined ? s.userSig(userID) : new SigApi(s.apps[0].sdkappid, s.apps[0].key).genUserSig(userID, expireSeconds);
  let reply;
  for (let attempt = 1; ; attempt += 1) {
    try {
      reply = await c.login(userID, sign());
      break;
    } catch (err) {
      // Only a short-lived UserSig that expired on its way in (all tests start at once) is signed again.
      if (expireSeconds === undefined || err.code !== 70001 || attempt === 3) throw err;
    }
  }
  assert.equal(reply.code, 0);
  await c.waitFor('SDK_READY', { from, timeoutMs: 2_000 });
  // Ready, unless a few-second UserSig has already run out on a busy machine (then the kick is there).
  assert.ok(await c.isReady() || c.trace(from).includes('KICKED_OUT:userSigExpired'), `${userID} ready`);
}

/** Waits until the account's server-side instance IDs equal `expected` (any order), or fails with the last list. */
async function expectInstances(s, userID, expected, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  let ids;
  for (;;) {
    ids = (await s.onlineInstances(userID)).map((i) => i.InstanceID);
    if (ids.length === expected.length && expected.every((id) => ids.includes(id))) return;
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  assert.deepEqual(ids.sort(), [...expected].sort(), `instances of ${userID}`);
}

/** Polls `check` until it resolves true, or fails after `timeoutMs`. */
async function waitUntil(check, what, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * Waits until `c` has stopped for good: no socket and no timer, so no reconnect can ever follow (what a
 * "no reconnect" check used to sleep 2.9 s for). Every event emitted before is delivered by then.
 */
async function stopped(c) {
  await waitUntil(() => c.isStopped(), `${c.label} stopped`, 3_000);
}

function count(c, compact, from = 0) {
  return c.trace(from).filter((e) => e === compact).length;
}

describe('staying connected', { concurrency: true }, () => {
  describe('server restart on the same port (kill -9, SIGTERM)', { concurrency: true }, () => {
    test('a ready instance comes back silently with its id; the kicked one stays down', { timeout: 30_000 }, async (t) => {
      const s = await server(t, { onlineWebInstances: 1 });
      const a = await client(t, s.url, 'A');
      const b = await client(t, s.url, 'B');
      await loginReady(a, s, 'restart1');
      await loginReady(b, s, 'restart1');
      await a.waitFor('SDK_NOT_READY', { timeoutMs: 3_000 });
      await stopped(a);
      assert.deepEqual(a.trace().slice(-3), ['KICKED_OUT:multipleAccount', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      const [idB] = (await s.onlineInstances('restart1')).map((i) => i.InstanceID);
      const markA = a.events.length;
      const markB = b.events.length;

      await s.kill9();
      await b.waitFor('NET_STATE_CHANGE:connecting', { from: markB, timeoutMs: 3_000 });
      await s.restart();
      await b.waitFor('NET_STATE_CHANGE:connected', { from: markB, timeoutMs: 10_000 });
      // A round trip to the worker: every event of the resume has been delivered before its answer.
      assert.equal(await b.isReady(), true);

      // Silent resume: no SDK_NOT_READY / SDK_READY, only the network state went round.
      assert.deepEqual(b.trace(markB), RECONNECTED);
      // The new process treated the unknown id as a fresh login that keeps it: same id, one slot, no kick.
      await expectInstances(s, 'restart1', [idB]);
      assert.equal((await s.onlineInstances('restart1'))[0].State, 'Online');
      assert.equal(await s.metric('tim_kicks_total{type="multipleAccount"}'), 0);
      // The kicked instance never tried again.
      assert.deepEqual(a.trace(markA), []);
      assert.equal(await a.isReady(), false);
    });

    test('graceful shutdown (SIGTERM, close 1012) and restart: the same silent resume', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const c = await client(t, s.url, 'C');
      await loginReady(c, s, 'sigterm1');
      const [id] = (await s.onlineInstances('sigterm1')).map((i) => i.InstanceID);
      const mark = c.events.length;
      await s.terminate();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      await s.restart();
      await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 10_000 });
      assert.equal(await c.isReady(), true);
      assert.deepEqual(c.trace(mark), RECONNECTED);
      await expectInstances(s, 'sigterm1', [id]);
    });

    test('two live instances: same N → both back, no kick; N lowered to 1 → exactly one kick', { timeout: 40_000 }, async (t) => {
      const s = await server(t, { onlineWebInstances: 2 });
      const a = await client(t, s.url, 'A');
      const b = await client(t, s.url, 'B');
      await loginReady(a, s, 'restart2');
      await loginReady(b, s, 'restart2');
      const ids = (await s.onlineInstances('restart2')).map((i) => i.InstanceID);
      assert.equal(ids.length, 2);
      const [idA, idB] = ids; // earliest first: A logged in first

      let markA = a.events.length;
      let markB = b.events.length;
      await s.kill9();
      await s.restart();
      await a.waitFor('NET_STATE_CHANGE:connected', { from: markA, timeoutMs: 10_000 });
      await b.waitFor('NET_STATE_CHANGE:connected', { from: markB, timeoutMs: 10_000 });
      assert.deepEqual([await a.isReady(), await b.isReady()], [true, true]);
      assert.deepEqual(a.trace(markA), RECONNECTED);
      assert.deepEqual(b.trace(markB), RECONNECTED);
      await expectInstances(s, 'restart2', [idA, idB]);
      assert.equal(await s.metric('tim_kicks_total{type="multipleAccount"}'), 0);

      // Restart with one slot per account: the first resume takes the free slot as a fresh login, the
      // other is refused with 80007 (a resume never evicts) and reports KICKED_OUT multipleAccount.
      markA = a.events.length;
      markB = b.events.length;
      await s.kill9();
      await s.restart({ onlineWebInstances: 1 });
      const kicked = await Promise.race([
        a.waitFor('KICKED_OUT:multipleAccount', { from: markA, timeoutMs: 10_000 }).then(() => a),
        b.waitFor('KICKED_OUT:multipleAccount', { from: markB, timeoutMs: 10_000 }).then(() => b),
      ]);
      const survivor = kicked === a ? b : a;
      const [kickedMark, survivorMark] = kicked === a ? [markA, markB] : [markB, markA];
      await survivor.waitFor('NET_STATE_CHANGE:connected', { from: survivorMark, timeoutMs: 10_000 });
      await kicked.waitFor('SDK_NOT_READY', { from: kickedMark, timeoutMs: 3_000 });
      // The kicked client has nothing left that could bring it back to kick the other.
      await stopped(kicked);

      assert.deepEqual(survivor.trace(survivorMark), RECONNECTED);
      assert.equal(await survivor.isReady(), true);
      const kickedTrace = kicked.trace(kickedMark);
      assert.equal(count(kicked, 'KICKED_OUT:multipleAccount', kickedMark), 1, kickedTrace.join(', '));
      const kickAt = kickedTrace.indexOf('KICKED_OUT:multipleAccount');
      assert.deepEqual(kickedTrace.slice(kickAt), ['KICKED_OUT:multipleAccount', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(await kicked.isReady(), false);
      await expectInstances(s, 'restart2', [survivor === a ? idA : idB]);
      assert.equal(await s.metric('tim_kicks_total{type="multipleAccount"}'), 0);
      assert.equal(await s.metric('tim_logins_total{result="instance_not_found"}'), 1);
    });
  });

  describe('network drops through a TCP proxy', { concurrency: true }, () => {
    test('cut connections: one reconnect attempt per cut, no SDK_NOT_READY, one instance, same id', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'cut1');
      const [id] = (await s.onlineInstances('cut1')).map((i) => i.InstanceID);

      for (let round = 1; round <= 3; round += 1) {
        const mark = c.events.length;
        const acceptedBefore = p.accepted;
        assert.equal(p.cutAll(), 1);
        // The first retry's delay (800-1200 ms) is proven in simulated time by tim-core's
        // backoff_grows_exponentially_with_jitter_within_documented_bounds; here: the order of events.
        await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 10_000 });
        assert.equal(await c.isReady(), true);
        assert.deepEqual(c.trace(mark), RECONNECTED, `round ${round}`);
        assert.equal(p.accepted - acceptedBefore, 1, `round ${round}: one attempt`);
        const instances = await s.onlineInstances('cut1');
        assert.deepEqual(instances.map((i) => [i.InstanceID, i.State]), [[id, 'Online']], `round ${round}`);
      }
      assert.equal(await s.metric('tim_kicks_total{type="multipleAccount"}'), 0);
    });

    test('server unreachable: refused attempts keep coming, one at a time, then the resume', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'backoff1');
      const [id] = (await s.onlineInstances('backoff1')).map((i) => i.InstanceID);
      const mark = c.events.length;
      const firstAttempt = p.accepted;

      p.setRefusing(true);
      const cutAt = Date.now();
      p.cutAll();
      // Base delays 1, 2, 4 s with ±20 % jitter (proven in simulated time by tim-core's
      // backoff_grows_exponentially_with_jitter_within_documented_bounds): attempts near 1, 3 and 7 s after
      // the cut. The first two are refused; the third gets through and resumes.
      while (p.accepted - firstAttempt < 2 && Date.now() - cutAt < 8_000) await sleep(20);
      assert.equal(p.accepted - firstAttempt, 2, 'attempts while refused');
      // Still "ready" while reconnecting, and nothing but connecting so far.
      assert.deepEqual(c.trace(mark), ['NET_STATE_CHANGE:connecting']);
      assert.equal(await c.isReady(), true);
      p.setRefusing(false);
      await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 10_000 });

      const times = [cutAt, ...p.acceptTimes.slice(firstAttempt)];
      assert.equal(times.length, 4, 'attempts in all');
      // Each attempt waited for the previous one: strictly later, in order.
      times.slice(1).forEach((t, n) => assert.ok(t > times[n], `attempt ${n + 1} came after attempt ${n}`));
      assert.deepEqual(c.trace(mark), RECONNECTED);
      await expectInstances(s, 'backoff1', [id]);
    });

    test('network hints: offline → disconnected while waiting; online → an attempt at once, not after the backoff', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'hint1');
      const mark = c.events.length;
      p.setRefusing(true);
      p.cutAll();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      await c.networkHint('offline');
      await c.waitFor('NET_STATE_CHANGE:disconnected', { from: mark, timeoutMs: 1_000 });
      // Wait for the first (refused) attempt to be over: no socket, the next attempt on the timer.
      const accepted = p.accepted;
      await waitUntil(async () => {
        const { sockets, nextDeadline } = await c.debugCounts();
        return p.accepted > accepted && sockets === 0 && nextDeadline !== null;
      }, 'the first attempt refused and the next one scheduled');
      const { nextDeadline: nextAttemptAt } = await c.debugCounts();
      p.setRefusing(false);
      // Order, not a duration: the hint was handled before the backoff timer was due, and in that same tick
      // the instance opened a socket, so the hint made the attempt, not the timer (tim-core's
      // online_hint_retries_at_once_and_offline_reports_disconnected proves "at once" in simulated time).
      const hint = await c.networkHintProbe('online');
      assert.ok(hint.at < nextAttemptAt, `hint handled at ${hint.at}, the timer was due at ${nextAttemptAt}`);
      assert.equal(hint.socketsAfter, 1, 'the hint opened a socket at once');
      await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 5_000 });
      assert.deepEqual(c.trace(mark), [
        'NET_STATE_CHANGE:connecting',
        'NET_STATE_CHANGE:disconnected',
        'NET_STATE_CHANGE:connecting',
        'NET_STATE_CHANGE:connected',
      ]);
      assert.equal(await c.isReady(), true);
    });

    test('requests and drops: in flight → 2800; while reconnecting → 2800 at once; after the resume → ok', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'inflight1');
      assert.equal((await c.sendMessage('inflight1', 'before')).code, 0);

      p.blackholeLive();
      const cutMark = c.events.length;
      const inFlight = c.sendMessage('inflight1', 'lost').then(
        () => assert.fail('resolved'),
        (err) => err,
      );
      // A round trip to the worker: the request has been handed to the socket before the cut.
      await c.isReady();
      p.setRefusing(true);
      p.cutAll();
      assert.equal((await inFlight).code, 2800);

      const { index: reconnecting } = await c.waitFor('NET_STATE_CHANGE:connecting', { from: cutMark, timeoutMs: 3_000 });
      const refused = await c.sendMessage('inflight1', 'offline').then(
        () => assert.fail('resolved'),
        (err) => err,
      );
      assert.equal(refused.code, 2800);
      // Rejected while every attempt is still refused: not queued for the resume (a queued request would
      // still be pending here). tim-core's reconnecting_is_still_ready_but_sends_fail_fast_with_2800 proves
      // "at once" in simulated time.
      assert.deepEqual(c.trace(reconnecting), ['NET_STATE_CHANGE:connecting'], 'rejected before any resume');

      const mark = c.events.length;
      p.setRefusing(false);
      await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 15_000 });
      assert.equal((await c.sendMessage('inflight1', 'after')).code, 0);
      assert.equal(count(c, 'SDK_NOT_READY'), 0);
    });

    test('half-open connection: the server frees the slot at its idle timeout; the SDK heartbeat notices and resumes', { timeout: 40_000 }, async (t) => {
      // Hellos every second (the client's minimum), a 3 s server idle timeout. The black hole passes on no
      // bytes and no close, so each side can only rely on its own timer.
      const s = await server(t, { limits: { hello_interval_ms: 1000, idle_timeout_ms: 3000 } });
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'halfopen1');
      const [id] = (await s.onlineInstances('halfopen1')).map((i) => i.InstanceID);
      const mark = c.events.length;

      assert.equal(p.blackholeLive(), 1);
      // Server side: closed 4005 at its idle timeout, slot freed at once (not kept for a resume). When:
      // exactly idle_timeout_ms after the last inbound frame, proven in simulated time by tim-server's
      // timing.rs (idle_timeout_closes_1500_ms_after_the_last_inbound_frame_and_frees_the_slot_at_once).
      await waitUntil(async () => (await s.onlineInstances('halfopen1')).length === 0, 'freed', 6_000);
      assert.equal(await s.metric('tim_connections_closed_by_limit_total{reason="idle_timeout"}'), 1);
      assert.deepEqual(c.trace(mark), [], 'the client has not noticed yet');

      // Client side: its heartbeat declares the link dead (after hello interval + request timeout, proven by
      // tim-core's silence_past_interval_plus_timeout_is_a_dead_connection_and_reconnects_silently), then it
      // reconnects after a backoff step.
      await c.waitFor('NET_STATE_CHANGE:connected', { from: mark, timeoutMs: 25_000 });
      assert.deepEqual(c.trace(mark), RECONNECTED);
      // The resume found no instance: a fresh login that keeps the id, silently.
      await expectInstances(s, 'halfopen1', [id]);
      assert.equal(await c.isReady(), true);
    });
  });

  describe('server-side endings are final', { concurrency: true }, () => {
    test('a 3-second UserSig: KICKED_OUT userSigExpired then SDK_NOT_READY, no reconnect', { timeout: 30_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'expiry1', 3);
      // The kick comes at the UserSig's last second (proven at the exact simulated instant by tim-server's
      // timing.rs an_expiring_usersig_kicks_at_its_last_second); here: what the SDK makes of it.
      const { index } = await c.waitFor('KICKED_OUT:userSigExpired', { timeoutMs: 6_000 });
      await c.waitFor('SDK_NOT_READY', { from: index + 1, timeoutMs: 1_000 });
      const accepted = p.accepted;
      await stopped(c);
      assert.deepEqual(c.trace(index), ['KICKED_OUT:userSigExpired', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(p.accepted, accepted, 'no reconnect attempt after the kick');
      assert.equal(await c.isReady(), false);
      await expectInstances(s, 'expiry1', []);
      assert.equal(await s.metric('tim_kicks_total{type="userSigExpired"}'), 1);
    });

    test('UserSig expires while reconnecting: the resume ends in KICKED_OUT userSigExpired', { timeout: 45_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      // 10 s, so that it outlives the login and the cut even while every test starts at once on a busy
      // machine (the test runs beside the minute-long storm, so this costs no wall time).
      await loginReady(c, s, 'expiry2', 10);
      // TLS.time is at most the current second: the UserSig is invalid once the wall clock has passed it + 10 s.
      const expiredFrom = (Math.floor(Date.now() / 1000) + 10 + 1) * 1000;
      const mark = c.events.length;
      p.setRefusing(true);
      p.cutAll();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      await waitUntil(async () => Date.now() >= expiredFrom, 'past the UserSig expiry', 15_000);
      p.setRefusing(false);
      const { index } = await c.waitFor((e) => e.key === 'KICKED_OUT', { from: mark, timeoutMs: 10_000 });
      await c.waitFor('SDK_NOT_READY', { from: index + 1, timeoutMs: 1_000 });
      const accepted = p.accepted;
      await stopped(c);
      assert.deepEqual(c.trace(index), ['KICKED_OUT:userSigExpired', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(p.accepted, accepted, 'no reconnect attempt after the kick');
      // The refused resume does not free the slot: the server keeps the detached instance until
      // resume_grace_ms (60 s) runs out, since a resume with a renewed UserSig would be valid.
      const left = await s.onlineInstances('expiry2');
      assert.deepEqual(left.map((i) => i.State), ['Detached']);
    });

    test('evicted while reconnecting: the resume gets 80007 → KICKED_OUT multipleAccount, then it stays down', { timeout: 25_000 }, async (t) => {
      const s = await server(t, { onlineWebInstances: 1 });
      const p = await proxyTo(t, s);
      const a = await client(t, p.wsUrl(), 'A');
      const b = await client(t, s.url, 'B'); // directly: the proxy's refusals below are A's network only
      await loginReady(a, s, 'evicted1');
      const mark = a.events.length;
      p.setRefusing(true);
      p.cutAll();
      await a.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      await waitUntil(async () => (await s.onlineInstances('evicted1'))[0]?.State === 'Detached', 'detached');
      await loginReady(b, s, 'evicted1'); // evicts the detached A: no connection to deliver the kick to
      const [idB] = (await s.onlineInstances('evicted1')).map((i) => i.InstanceID);
      p.setRefusing(false);

      const { index } = await a.waitFor((e) => e.key === 'KICKED_OUT', { from: mark, timeoutMs: 10_000 });
      await a.waitFor('SDK_NOT_READY', { from: index + 1, timeoutMs: 1_000 });
      const accepted = p.accepted;
      await stopped(a);
      assert.deepEqual(a.trace(index), ['KICKED_OUT:multipleAccount', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(p.accepted, accepted, 'no reconnect attempt after the kick');
      assert.equal(await b.isReady(), true);
      assert.equal(count(b, 'KICKED_OUT:multipleAccount'), 0);
      await expectInstances(s, 'evicted1', [idB]);
      assert.equal(await s.metric('tim_logins_total{result="instance_not_found"}'), 1, 'the resume was refused with 80007');
    });

    test('REST kick: KICKED_OUT REST_API_Kick then SDK_NOT_READY, no reconnect, no instance left', { timeout: 20_000 }, async (t) => {
      const s = await server(t, { onlineWebInstances: 2 });
      const p = await proxyTo(t, s);
      const a = await client(t, p.wsUrl(), 'A');
      const b = await client(t, p.wsUrl(), 'B');
      await loginReady(a, s, 'restkick1');
      await loginReady(b, s, 'restkick1');
      const marks = [a.events.length, b.events.length];
      await s.kick('restkick1');
      for (const [i, c] of [a, b].entries()) {
        const { index } = await c.waitFor('KICKED_OUT:REST_API_Kick', { from: marks[i], timeoutMs: 3_000 });
        await c.waitFor('SDK_NOT_READY', { from: index + 1, timeoutMs: 1_000 });
      }
      const accepted = p.accepted;
      await stopped(a);
      await stopped(b);
      for (const [i, c] of [a, b].entries()) {
        assert.deepEqual(c.trace(marks[i]), ['KICKED_OUT:REST_API_Kick', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
        assert.equal(await c.isReady(), false);
      }
      assert.equal(p.accepted, accepted, 'no reconnect attempt after the kick');
      await expectInstances(s, 'restkick1', []);
    });

    test('REST kick while the instance is reconnecting: its resume ends in KICKED_OUT, then it stays down', { timeout: 25_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'restkick2');
      const mark = c.events.length;
      p.setRefusing(true);
      p.cutAll();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      // The server noticed the drop and keeps the slot for a resume.
      await waitUntil(async () => (await s.onlineInstances('restkick2'))[0]?.State === 'Detached', 'detached');
      await s.kick('restkick2');
      await expectInstances(s, 'restkick2', []);
      p.setRefusing(false);

      const { index } = await c.waitFor((e) => e.key === 'KICKED_OUT', { from: mark, timeoutMs: 10_000 });
      await c.waitFor('SDK_NOT_READY', { from: index + 1, timeoutMs: 1_000 });
      const accepted = p.accepted;
      await stopped(c);
      // The resumed login presents a UserSig issued before the kick: refused with 70052 → REST_API_Kick.
      assert.deepEqual(c.trace(index), ['KICKED_OUT:REST_API_Kick', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(p.accepted, accepted, 'no reconnect attempt after the kick');
      await expectInstances(s, 'restkick2', []);
    });
  });

  describe('no kick storm', { concurrency: true }, () => {
    // A storm is a feedback loop whose period is one reconnect delay: a kicked client that logs in again
    // within ~1.2 s evicts the other, which does the same. Every cut below forces the surviving instance
    // through a full resume while the kicked one has had ten chances to come back, so ten cycles show a
    // storm; the issue asks for a full minute, which runs beside the other tests (they are concurrent), so
    // it costs about 40 s of wall time. TIM_STORM_SECONDS shortens it for a quick local run.
    const stormSeconds = Math.min(60, Number(process.env.TIM_STORM_SECONDS ?? 60));

    test(`two instances, N=1, network cut every 2 s for ${stormSeconds} s: exactly one kick`, { timeout: (stormSeconds + 30) * 1000 }, async (t) => {
      const s = await server(t, { onlineWebInstances: 1 });
      const p = await proxyTo(t, s);
      const a = await client(t, p.wsUrl(), 'A');
      const b = await client(t, p.wsUrl(), 'B');
      await loginReady(a, s, 'storm1');
      await loginReady(b, s, 'storm1');
      await a.waitFor('SDK_NOT_READY', { timeoutMs: 3_000 });
      const [idB] = (await s.onlineInstances('storm1')).map((i) => i.InstanceID);
      const markA = a.events.length;
      const markB = b.events.length;
      const acceptedBefore = p.accepted;

      const endAt = Date.now() + stormSeconds * 1000;
      const liveAtCut = [];
      while (Date.now() < endAt) {
        const cycleStart = Date.now();
        const mark = b.events.length;
        liveAtCut.push(p.cutAll());
        await b.waitFor((e) => e.data?.state === 'connected' || e.key === 'KICKED_OUT', { from: mark, timeoutMs: 10_000 });
        await sleep(Math.max(0, cycleStart + 2_000 - Date.now()));
      }
      // A has stopped for good (it cannot come back and kick B); B has delivered every event so far.
      await stopped(a);
      assert.equal(await b.isReady(), true);

      const cuts = liveAtCut.length;
      assert.ok(cuts >= stormSeconds / 3, `only ${cuts} cuts`);
      assert.equal(await s.metric('tim_kicks_total{type="multipleAccount"}'), 1, 'kicks in total');
      // Only B's connection was ever live: A was kicked and never came back.
      assert.deepEqual(liveAtCut, Array(cuts).fill(1), 'live connections at each cut');
      assert.equal(count(a, 'KICKED_OUT:multipleAccount'), 1);
      assert.deepEqual(a.trace(markA), [], 'the kicked instance stayed down');
      assert.equal(count(b, 'KICKED_OUT:multipleAccount'), 0);
      assert.equal(count(b, 'SDK_NOT_READY', markB), 0);
      assert.equal(count(b, 'NET_STATE_CHANGE:connected', markB), cuts);
      assert.equal(p.accepted - acceptedBefore, cuts, 'one reconnect per cut, all by the survivor');
      assert.equal(await b.isReady(), true);
      await expectInstances(s, 'storm1', [idB]);
    });
  });

  describe('logout() and destroy()', { concurrency: true }, () => {
    test('logout while ready: SDK_NOT_READY, resolves, slot freed, no reconnect', { timeout: 20_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'logout1');
      const mark = c.events.length;
      assert.deepEqual(await c.logout(), { code: 0, data: {} });
      await expectInstances(s, 'logout1', []);
      const accepted = p.accepted;
      await stopped(c);
      assert.deepEqual(c.trace(mark), ['SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      assert.equal(p.accepted, accepted, 'no connection after logout()');
      assert.equal(await c.isReady(), false);
    });

    test('logout while reconnecting: local at once, no further attempt', { timeout: 20_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'logout2');
      const mark = c.events.length;
      p.setRefusing(true);
      p.cutAll();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      // Resolved while the server is unreachable: logged out locally (tim-core's
      // logout_while_reconnecting_logs_out_locally_and_stops_reconnecting proves "at once").
      const { socketsBefore: inFlight, value } = await c.call('withSockets', { op: 'logout' });
      assert.deepEqual(value, { code: 0, data: {} });
      const accepted = p.accepted;
      p.setRefusing(false);
      await stopped(c); // the attempts that would have come at ~1 and ~3 s are not scheduled
      await waitUntil(async () => p.liveConnections() === 0, 'the proxy idle');
      assert.deepEqual(c.trace(mark), ['NET_STATE_CHANGE:connecting', 'SDK_NOT_READY', 'NET_STATE_CHANGE:disconnected']);
      // An attempt already under way at the logout may reach the proxy late (a loaded machine); none after.
      assert.ok(p.accepted - accepted <= inFlight, `no connection after logout(): ${p.accepted - accepted} (in flight: ${inFlight})`);
      // The server never heard of the logout: the dropped instance keeps its slot until resume_grace_ms.
      assert.deepEqual((await s.onlineInstances('logout2')).map((i) => i.State), ['Detached']);
    });

    test('destroy while ready: SDK_NOT_READY, slot freed, no reconnect', { timeout: 20_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'destroy1');
      const mark = c.events.length;
      await c.destroy();
      await c.waitFor('SDK_NOT_READY', { from: mark, timeoutMs: 2_000 });
      await expectInstances(s, 'destroy1', []);
      const accepted = p.accepted;
      await stopped(c);
      assert.equal(p.accepted, accepted, 'no connection after destroy()');
      assert.equal(count(c, 'NET_STATE_CHANGE:connecting', mark), 0);
    });

    test('destroy while reconnecting: no further attempt', { timeout: 20_000 }, async (t) => {
      const s = await server(t);
      const p = await proxyTo(t, s);
      const c = await client(t, p.wsUrl(), 'C');
      await loginReady(c, s, 'destroy2');
      const mark = c.events.length;
      p.setRefusing(true);
      p.cutAll();
      await c.waitFor('NET_STATE_CHANGE:connecting', { from: mark, timeoutMs: 3_000 });
      const { socketsBefore: inFlight } = await c.call('withSockets', { op: 'destroy' });
      await c.waitFor('SDK_NOT_READY', { from: mark, timeoutMs: 2_000 });
      const accepted = p.accepted;
      p.setRefusing(false);
      // Attempts would come at ~1, 3 and 7 s: none is scheduled.
      await stopped(c);
      await waitUntil(async () => p.liveConnections() === 0, 'the proxy idle');
      // An attempt already under way at destroy() may reach the proxy late (a loaded machine); none after.
      assert.ok(p.accepted - accepted <= inFlight, `no connection after destroy(): ${p.accepted - accepted} (in flight: ${inFlight})`);
      assert.equal(count(c, 'NET_STATE_CHANGE:connected', mark), 0);
    });
  });
});
