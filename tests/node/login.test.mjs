// The SDK against a real tim-server: the documented samples as written, the multi-instance rule (each
// instance in its own worker thread: one instance per SDKAppID per module graph), logout, and every
// error path.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { scratchProject } from './lib/scratch.mjs';
import { APPS, startServer, userSig } from './lib/server.mjs';
import { sample, sharedDocDiffers } from './lib/doc-samples.mjs';
import { SdkClient } from './support/sdk-client.mjs';

/** Every TIM.EVENT key: the agents record them all. */
const ALL_EVENTS = ['SDK_READY', 'SDK_NOT_READY', 'KICKED_OUT', 'NET_STATE_CHANGE', 'ERROR', 'SDK_DESTROY', 'MESSAGE_RECEIVED'];

let server;
const agents = [];
let userCounter = 0;

before(async () => {
  server = await startServer();
});
after(async () => {
  await Promise.all(agents.map((a) => a.terminate()));
  await server?.stop();
});

test('the login doc the samples come from is the shared reference copy', (t) => {
  const differs = sharedDocDiffers();
  if (differs === null) return t.skip('no shared/reference beside the checkout');
  assert.equal(differs, false, 'tests/reference/login-web-and-mini-programs.txt differs from shared/reference');
});

/** A fresh user name per test, so that tests never kick each other. */
function freshUser(tag) {
  userCounter += 1;
  return `${tag}-${process.pid}-${userCounter}`;
}

async function agentFor(app, label) {
  const workerPath = path.join(scratchProject(), 'sdk-worker.mjs');
  const agent = await SdkClient.start(workerPath, { SDKAppID: app.sdkappid, serverUrl: server.url, label, events: ALL_EVENTS });
  agents.push(agent);
  return agent;
}

test('the login and logout samples of the doc run as written', async () => {
  const a = await agentFor(APPS.one, 'doc');
  const user = freshUser('doc');
  const login = sample('let promise = tim.login(')
    .replace("'your userID'", JSON.stringify(user))
    .replace("'your userSig'", JSON.stringify(userSig(APPS.one, user)));
  const logged = await a.call('sample', { code: login, waitForLines: 1 });
  assert.deepEqual(logged, [{ level: 'log', args: [{ actionStatus: 'OK', errorCode: 0, errorInfo: '' }] }]);
  await a.waitFor('SDK_READY');
  assert.equal(await a.call('isReady'), true);
  assert.equal(await a.call('getLoginUser'), user);

  const logout = sample('let promise = tim.logout();');
  const out = await a.call('sample', { code: logout, waitForLines: 1 });
  assert.deepEqual(out, [{ level: 'log', args: [{}] }]);
  await a.waitFor('SDK_NOT_READY');
  assert.equal(await a.call('isReady'), false);
  assert.equal(await a.call('getLoginUser'), '');

  // The failure branch of the login sample: a bad UserSig gives imError through console.warn.
  const failing = sample('let promise = tim.login(')
    .replace("'your userID'", JSON.stringify(user))
    .replace("'your userSig'", JSON.stringify('not-a-usersig'));
  const warned = await a.call('sample', { code: failing, waitForLines: 1 });
  assert.equal(warned[0].level, 'warn');
  assert.equal(warned[0].args[0], 'login error:');
  assert.equal(warned[0].args[1].isError, true);
  assert.equal(warned[0].args[1].code, 70003);
});

test('N=1: the KICKED_OUT sample runs as written; the first instance is kicked, the second stays ready', async () => {
  const user = freshUser('kick');
  const sig = userSig(APPS.one, user);
  const first = await agentFor(APPS.one, 'first');
  const second = await agentFor(APPS.one, 'second');
  await first.call('installProbes');
  await first.call('login', { userID: user, userSig: sig });
  await first.waitFor('SDK_READY');
  const kickSample = sample('let onKickedOut = function (event) {', 'tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);');
  const printed = first.call('sample', { code: kickSample, waitForLines: 1 });

  const before = Date.now();
  const r = await second.call('login', { userID: user, userSig: sig });
  const after = Date.now();
  assert.equal(r.code, 0);
  await first.waitFor('SDK_NOT_READY');
  assert.deepEqual(await printed, [{ level: 'log', args: ['multipleAccount'] }]);
  const firstKeys = first.keys().filter((k) => k === 'KICKED_OUT' || k === 'SDK_NOT_READY' || k === 'SDK_READY');
  assert.deepEqual(firstKeys, ['SDK_READY', 'KICKED_OUT', 'SDK_NOT_READY']);
  const { key, name, data } = first.events.find((e) => e.key === 'KICKED_OUT');
  // Beside `type`, who took the slot: the second instance's platform and its login time.
  const { time, ...rest } = data;
  assert.deepEqual(
    { key, name, data: rest },
    { key: 'KICKED_OUT', name: 'kickedOut', data: { type: 'multipleAccount', platform: 'node' } },
  );
  assert.equal(typeof time, 'number');
  assert.ok(time >= before && time <= after, `login time ${time} within ${before}..${after}`);

  await second.waitFor('SDK_READY');
  assert.equal(await second.call('isReady'), true);
  assert.equal(await first.call('isReady'), false);
  // Inside KICKED_OUT: a throwing listener did not stop the next one, which called logout() (2024: the
  // kick already logged the instance out) with its context; the listener removed with off() never ran.
  const probe = await first.call('probeResults');
  assert.deepEqual(probe.order, ['thrower', 'caller:ctx:multipleAccount']);
  assert.deepEqual(probe.logoutInside, { ok: false, code: 2024 });
  assert.equal(probe.removedCalled, false);
  // After a kick: the guard reports the kick (3003); logout rejects with 2024; no reconnect happens.
  const guard = await first.fail('sendMessage', { to: 'x', text: 'hi' });
  assert.equal(guard.code, 3003);
  assert.equal((await first.fail('logout')).code, 2024);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(second.keys().includes('KICKED_OUT'), false, 'the kicked instance did not come back');
  assert.equal(await second.call('isReady'), true);
});

test('N=2: two instances stay; a third kicks the earliest; logout of one leaves the others ready', async () => {
  const user = freshUser('n2');
  const sig = userSig(APPS.two, user);
  const [a1, a2, a3] = await Promise.all([1, 2, 3].map((i) => agentFor(APPS.two, `a${i}`)));
  await a1.call('login', { userID: user, userSig: sig });
  await a1.waitFor('SDK_READY');
  await a2.call('login', { userID: user, userSig: sig });
  await a2.waitFor('SDK_READY');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a1.keys().includes('KICKED_OUT'), false);
  const before = Date.now();
  await a3.call('login', { userID: user, userSig: sig });
  const after = Date.now();
  await a1.waitFor('SDK_NOT_READY');
  const { time, ...kicked } = a1.events.find((e) => e.key === 'KICKED_OUT').data;
  assert.deepEqual(kicked, { type: 'multipleAccount', platform: 'node' });
  assert.ok(time >= before && time <= after, `a3's login time ${time} within ${before}..${after}`);
  assert.equal(await a2.call('isReady'), true);
  assert.equal(await a3.call('isReady'), true);
  assert.equal(a2.keys().includes('KICKED_OUT'), false);

  const out = await a2.call('logout');
  assert.deepEqual(out, { code: 0, data: {} });
  await a2.waitFor('SDK_NOT_READY');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await a3.call('isReady'), true, 'logout of one instance does not affect the others');
  assert.equal(a3.keys().includes('SDK_NOT_READY'), false);
});

test('repeat login, isReady/getLoginUser, and the codes of every login/logout error path', async () => {
  const a = await agentFor(APPS.one, 'errors');
  const user = freshUser('err');
  const sig = userSig(APPS.one, user);
  const codeOf = async (op, args) => (await a.fail(op, args)).code;

  // Before any login.
  assert.equal(await codeOf('logout'), 2024);
  assert.equal(await codeOf('sendMessage', { to: 'x', text: 'y' }), 2024);
  assert.equal(await a.call('isReady'), false);
  assert.equal(await a.call('getLoginUser'), '');
  // Bad arguments reject (never throw) with their codes.
  assert.equal(await codeOf('login', { userSig: sig }), 2002);
  assert.equal(await codeOf('login', { userID: '', userSig: sig }), 2002);
  assert.equal(await codeOf('login', { userID: user }), 2003);
  assert.equal(await codeOf('login', { userID: 'x'.repeat(33), userSig: sig }), 7003);
  assert.equal(await codeOf('login', { userID: 'bad\nid', userSig: sig }), 7003);
  assert.equal(await codeOf('login', { userID: 42, userSig: sig }), 8002);
  assert.equal(await codeOf('login', null), 8002);
  const err = await a.fail('login', { userID: user });
  assert.deepEqual([err.isError, err.name, err.data], [true, 'TimError', {}]);
  // Server refusals.
  assert.equal(await codeOf('login', { userID: user, userSig: userSig(APPS.one, 'someone-else') }), 70013);
  assert.equal(await codeOf('login', { userID: user, userSig: userSig({ ...APPS.one, key: 'c'.repeat(64) }, user) }), 70009);
  assert.equal(await codeOf('login', { userID: user, userSig: userSig(APPS.two, user) }), 70014);
  const expired = userSig(APPS.one, user, 1);
  await new Promise((r) => setTimeout(r, 2100));
  assert.equal(await codeOf('login', { userID: user, userSig: expired }), 70001);
  assert.equal(await codeOf('sendMessage', { to: 'x', text: 'y' }), 3001, 'after a failed login');

  // Login in flight: a second login is 2025, the guard says 3000.
  const [first, second] = await a.call('concurrentLogins', { userID: user, userSig: sig });
  assert.equal(first.status, 'fulfilled');
  assert.equal(second.status, 'rejected');
  await a.waitFor('SDK_READY');
  assert.equal(await a.call('getLoginUser'), user);
  // Repeat login as the same user: repeatLogin, no second SDK_READY.
  const repeat = await a.call('login', { userID: user, userSig: sig });
  assert.deepEqual(repeat, { code: 0, data: { actionStatus: 'OK', errorCode: 0, errorInfo: '', repeatLogin: true } });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.keys().filter((k) => k === 'SDK_READY').length, 1);
  // Another user while logged in.
  assert.equal(await codeOf('login', { userID: `${user}-b`, userSig: userSig(APPS.one, `${user}-b`) }), 8001);
  // Logout: resolves {code: 0, data: {}}; afterwards the guard says 3005 and logout is 2024.
  assert.deepEqual(await a.call('logout'), { code: 0, data: {} });
  assert.equal(await codeOf('sendMessage', { to: 'x', text: 'y' }), 3005);
  assert.equal(await codeOf('logout'), 2024);
});

test('the guard while logging in is 3000, a second login then is 2025, a login during logout 8008', async () => {
  const a = await agentFor(APPS.one, 'inflight');
  const user = freshUser('fl');
  const r = await a.call('concurrentLogins', { userID: user, userSig: userSig(APPS.one, user) });
  assert.equal(r[1].reason.code, 2025);
  // A login in the same tick as the logout: 8008 LOGOUT_IN_PROGRESS, not 2025; the logout completes.
  const [loggedOut, duringLogout] = await a.call('loginDuringLogout', { userID: user, userSig: userSig(APPS.one, user) });
  assert.equal(loggedOut.status, 'fulfilled');
  assert.deepEqual(
    [duringLogout.status, duringLogout.reason.code, duringLogout.reason.codeName],
    ['rejected', 8008, 'LOGOUT_IN_PROGRESS'],
  );
  // sendMessage during a login: the login and the guarded API in the same tick.
  const b = await agentFor(APPS.two, 'inflight-guard');
  const user2 = freshUser('fl2');
  const [login, guard] = await b.call('guardWhileLoggingIn', { userID: user2, userSig: userSig(APPS.two, user2) });
  assert.equal(login.status, 'fulfilled');
  assert.equal(guard.status, 'rejected');
  assert.equal(guard.reason.code, 3000);
});

test('an SDKAppID the server does not have is 70020', async () => {
  const a = await agentFor({ sdkappid: 1400009999 }, 'unknown-app');
  const err = await a.fail('login', { userID: 'u1', userSig: userSig({ sdkappid: 1400009999, key: 'd'.repeat(64) }, 'u1') });
  assert.equal(err.code, 70020);
});

test('sendMessage once ready: the receiver gets MESSAGE_RECEIVED with the text', async () => {
  const [from, to] = [freshUser('from'), freshUser('to')];
  const a = await agentFor(APPS.two, 'sender');
  const b = await agentFor(APPS.two, 'receiver');
  await b.call('login', { userID: to, userSig: userSig(APPS.two, to) });
  await b.waitFor('SDK_READY');
  await a.call('login', { userID: from, userSig: userSig(APPS.two, from) });
  await a.waitFor('SDK_READY');
  const sent = await a.call('sendMessage', { to, text: 'hello from node' });
  assert.equal(sent.code, 0);
  assert.equal(typeof sent.data.sequence, 'number');
  await b.waitFor('MESSAGE_RECEIVED');
  const [message] = b.events.find((e) => e.key === 'MESSAGE_RECEIVED').data;
  assert.equal(message.from, from);
  assert.equal(message.to, to);
  assert.equal(message.payload.text, 'hello from node');
  assert.equal((await a.fail('sendMessage', { to, text: 5 })).code, 8002);
});

test('1,000 login/logout cycles on one instance do not grow listeners, closures, sockets or Promises', async () => {
  const a = await agentFor(APPS.two, 'cycles');
  const user = freshUser('cyc');
  const { before, after } = await a.call('cycles', { n: 1000, userID: user, userSig: userSig(APPS.two, user) });
  assert.deepEqual(after, before);
  assert.equal(after.sockets, 0);
  assert.equal(after.pendingPromises, 0);
  assert.equal(after.liveSockets, 0);
  assert.equal(after.liveClosures, 2, "only the instance's two closures are alive: its timer's and its sockets'");
  assert.equal(after.listeners, 7);
});
