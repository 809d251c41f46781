// C2C text messages the official way against a real tim-server: createTextMessage returns a Message,
// sendMessage(message) settles it, MESSAGE_RECEIVED delivers Message objects to the receiver and to the
// sender's OTHER instances (flow out), never to the sending one. The old sendMessage({to, text}) works.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import path from 'node:path';

import { scratchProject } from './lib/scratch.mjs';
import { APPS, startServer, userSig } from './lib/server.mjs';
import { SdkClient } from './support/sdk-client.mjs';

let server;
const agents = [];
let counter = 0;

before(async () => {
  server = await startServer();
});
after(async () => {
  await Promise.all(agents.map((a) => a.terminate()));
  await server?.stop();
});

const fresh = (tag) => `${tag}-${process.pid}-${++counter}`;

async function client(label) {
  const workerPath = path.join(scratchProject(), 'sdk-worker.mjs');
  const agent = await SdkClient.start(workerPath, {
    SDKAppID: APPS.two.sdkappid,
    serverUrl: server.url,
    label,
    events: ['SDK_READY', 'MESSAGE_RECEIVED'],
  });
  agents.push(agent);
  return agent;
}

async function loggedIn(user, label) {
  const agent = await client(label);
  await agent.login(user, userSig(APPS.two, user));
  await agent.waitFor('SDK_READY');
  return agent;
}

/** Resolves once `agent` has `count` MESSAGE_RECEIVED events. */
function messages(agent, count = 1) {
  return agent.waitFor(() => agent.events.filter((e) => e.key === 'MESSAGE_RECEIVED').length >= count, {
    what: `${count} MESSAGE_RECEIVED`,
  });
}

const received = (agent) => agent.events.filter((e) => e.key === 'MESSAGE_RECEIVED').flatMap((e) => e.data);

test('createTextMessage + sendMessage(message): the official Message fields on every side', async () => {
  const [alice, bob] = [fresh('alice'), fresh('bob')];
  const sender = await loggedIn(alice, 'alice-1');
  const senderOther = await loggedIn(alice, 'alice-2');
  const receiver = await loggedIn(bob, 'bob');

  const { created, result, after, sameObject } = await sender.call('createAndSend', { to: bob, text: 'Hello world!' });
  assert.match(created.ID, /^[0-9a-f]{32}$/);
  assert.equal(created.type, 'TIMTextElem');
  assert.deepEqual(created.payload, { text: 'Hello world!' });
  assert.equal(created.from, alice);
  assert.equal(created.to, bob);
  assert.equal(created.conversationID, `C2C${bob}`);
  assert.equal(created.conversationType, 'C2C');
  assert.equal(created.flow, 'out');
  assert.equal(created.status, 'unSend');
  assert.equal(typeof created.time, 'number');

  assert.equal(result.code, 0);
  assert.equal(sameObject, true, 'data.message is the object given to sendMessage');
  assert.equal(after.status, 'success');
  assert.equal(after.ID, created.ID);
  assert.ok(after.sequence > 0);
  assert.ok(Math.abs(after.time - Date.now() / 1000) < 60, `time in Unix seconds: ${after.time}`);

  await messages(receiver);
  const [inbound] = received(receiver);
  assert.equal(inbound.ID, created.ID, 'the same ID on the receiving side');
  assert.equal(inbound.flow, 'in');
  assert.equal(inbound.from, alice);
  assert.equal(inbound.to, bob);
  assert.equal(inbound.conversationID, `C2C${alice}`);
  assert.equal(inbound.conversationType, 'C2C');
  assert.equal(inbound.type, 'TIMTextElem');
  assert.equal(inbound.status, 'success');
  assert.deepEqual(inbound.payload, { text: 'Hello world!' });
  assert.equal(inbound.sequence, after.sequence);
  assert.equal(inbound.time, after.time);

  await messages(senderOther);
  const [synced] = received(senderOther);
  assert.equal(synced.ID, created.ID, "the same ID on the sender's other instance");
  assert.equal(synced.flow, 'out', "the sender's other instance shows it as sent");
  assert.equal(synced.conversationID, `C2C${bob}`);
  assert.equal(synced.sequence, after.sequence);

  // The sending instance gets it only as sendMessage's result.
  await sender.sendMessage(bob, 'flush');
  await messages(receiver, 2);
  assert.deepEqual(received(sender), []);
});

test('the old sendMessage({to, text}) keeps working and returns the message too', async () => {
  const [a, b] = [fresh('old-a'), fresh('old-b')];
  const sender = await loggedIn(a, 'old-a');
  const receiver = await loggedIn(b, 'old-b');
  const sent = await sender.sendMessage(b, 'short form');
  assert.equal(sent.code, 0);
  assert.equal(typeof sent.data.sequence, 'number');
  assert.equal(sent.data.message.status, 'success');
  assert.equal(sent.data.message.payload.text, 'short form');
  await messages(receiver);
  assert.equal(received(receiver)[0].payload.text, 'short form');
});

test('a failed send marks the message fail; createTextMessage refuses other conversation types', async () => {
  const agent = await client('not-logged-in');
  const r = await agent.call('createAndSend', { to: 'someone', text: 'too early' });
  assert.equal(r.created.status, 'unSend');
  assert.equal(r.error.code, 2024);
  assert.equal(r.after.status, 'fail');
  assert.equal(r.errorMessageIsTheObject, true, 'imError.data.message is the message');
  const group = await agent.fail('createTextMessage', { to: 'g', conversationType: 'GROUP', payload: { text: 'x' } });
  assert.equal(group.code, 8002);
  assert.match(group.message, /CONV_C2C/);
  const noPayload = await agent.fail('createTextMessage', { to: 'g', conversationType: 'C2C' });
  assert.equal(noPayload.code, 8002);
});
