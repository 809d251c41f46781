// One SDK instance in its own worker thread (TIM.create returns one instance per SDKAppID and module
// graph, so a second instance of the same app needs a second graph). This file is copied into the
// scratch project that installed the package (../lib/scratch.mjs), so `tim-wasm` resolves BY NAME.
// Protocol: the parent posts {id, op, args}; the worker answers {id, ok, value} or {id, ok: false, error}
// and pushes {event: {name, data, t}} for every SDK event, t = Date.now() when the listener ran.

import { parentPort, workerData } from 'node:worker_threads';
import TIM from 'tim-wasm';

const tim = TIM.create({ SDKAppID: workerData.SDKAppID, serverUrl: workerData.serverUrl });
tim.setLogLevel(workerData.logLevel);

const watched = ['SDK_READY', 'SDK_NOT_READY', 'KICKED_OUT', 'NET_STATE_CHANGE', 'ERROR'];
for (const key of watched.filter((k) => TIM.EVENT[k] !== undefined)) {
  tim.on(TIM.EVENT[key], (event) => {
    parentPort.postMessage({ event: { key, name: event.name, data: plain(event.data), t: Date.now() } });
  });
}

function plain(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function describe(err) {
  return { code: err?.code, message: String(err?.message ?? err), data: plain(err?.data) };
}

const ops = {
  login: (args) => tim.login(args),
  logout: () => tim.logout(),
  sendMessage: (args) => tim.sendMessage(args),
  destroy: () => tim.destroy(),
  // Internal entry the browser and mini-program loaders call on online/offline events.
  networkHint: (hint) => tim.networkHint(hint),
  isReady: () => tim.isReady(),
  getLoginUser: () => tim.getLoginUser(),
  types: () => plain(TIM.TYPES),
};

parentPort.on('message', async ({ id, op, args }) => {
  try {
    const value = await ops[op](args);
    parentPort.postMessage({ id, ok: true, value: plain(value) });
  } catch (err) {
    parentPort.postMessage({ id, ok: false, error: describe(err) });
  }
});

parentPort.postMessage({ started: true });
