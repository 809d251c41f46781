// One SDK instance in its own worker thread (TIM.create returns one instance per SDKAppID and module
// graph, so a second instance of the same app needs a second graph): the one test agent of the Node
// suites (driven by ./sdk-client.mjs). This file is copied into the scratch project that installed the
// package (../lib/scratch.mjs), so `tim-wasm` resolves BY NAME.
// Protocol: the parent posts {id, op, args}; the worker answers {id, ok, value} or {id, ok: false, error}
// and pushes {event: {key, name, data, t}} for every SDK event, t = Date.now() when the listener ran.

import { parentPort, workerData } from 'node:worker_threads';
import TIM from 'tim-wasm';

// A test may fix the SDK's random source (the start URL of a serverUrl array, the backoff jitter):
// `random` is the 32-bit value of every draw, whether the SDK takes it from Web Crypto or, without
// one, from the top bits of Math.random (src/js/seed.js).
if (typeof workerData.random === 'number') {
  const r = workerData.random >>> 0;
  globalThis.crypto.getRandomValues = (array) => array.fill(r);
  Math.random = () => r / 2 ** 32;
}
const tim = TIM.create({ SDKAppID: workerData.SDKAppID, serverUrl: workerData.serverUrl });
tim.setLogLevel(workerData.logLevel);

const watched = workerData.events ?? ['SDK_READY', 'SDK_NOT_READY', 'KICKED_OUT', 'NET_STATE_CHANGE', 'ERROR'];
for (const key of watched.filter((k) => TIM.EVENT[k] !== undefined)) {
  tim.on(TIM.EVENT[key], (event) => {
    parentPort.postMessage({ event: { key, name: event.name, data: plain(event.data), t: Date.now() } });
  });
}

function plain(value) {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function describe(err) {
  return {
    isError: err instanceof Error,
    name: err?.name,
    code: err?.code,
    message: String(err?.message ?? err),
    data: plain(err?.data),
  };
}

/** Runs a documentation sample as written, with a console that records what the sample prints. */
async function runSample({ code, waitForLines }) {
  const lines = [];
  const record = (level) => (...args) =>
    lines.push({ level, args: args.map((a) => (a instanceof Error ? describe(a) : plain(a))) });
  const sampleConsole = { log: record('log'), warn: record('warn'), error: record('error'), info: record('info') };
  new Function('tim', 'TIM', 'console', code)(tim, TIM, sampleConsole);
  const deadline = Date.now() + 10000;
  while (lines.length < waitForLines && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return lines;
}

/** login/logout `n` times; returns the debug counters before and after. */
async function cycles({ n, userID, userSig }) {
  const before = tim.__debugCounts();
  for (let i = 0; i < n; i++) {
    await tim.login({ userID, userSig });
    await tim.logout();
  }
  return { before, after: tim.__debugCounts() };
}

/** Listeners that test re-entrancy and isolation: one throws, the next calls logout() inside KICKED_OUT,
 * and one removed with off() must never run. */
const probe = { order: [], logoutInside: null, removedCalled: false };
function installProbes() {
  const removed = () => (probe.removedCalled = true);
  tim.on(TIM.EVENT.KICKED_OUT, removed);
  tim.on(TIM.EVENT.KICKED_OUT, function () {
    probe.order.push('thrower');
    throw new Error('a listener that throws');
  });
  tim.on(
    TIM.EVENT.KICKED_OUT,
    function (event) {
      probe.order.push(`caller:${this.tag}:${event.data.type}`);
      tim.logout().then(
        (r) => (probe.logoutInside = { ok: true, value: plain(r) }),
        (e) => (probe.logoutInside = { ok: false, code: e.code }),
      );
    },
    { tag: 'ctx' },
  );
  tim.off(TIM.EVENT.KICKED_OUT, removed);
}

const ops = {
  login: (args) => tim.login(args),
  logout: () => tim.logout(),
  sendMessage: (args) => tim.sendMessage(args),
  // The official flow: createTextMessage, then sendMessage(message); reports the object before and after.
  createAndSend: async ({ to, text, conversationType = TIM.TYPES.CONV_C2C }) => {
    const message = tim.createTextMessage({ to, conversationType, payload: { text } });
    const created = plain(message);
    try {
      const result = await tim.sendMessage(message);
      return { created, result, after: plain(message), sameObject: result.data.message === message };
    } catch (e) {
      return { created, error: describe(e), errorMessageIsTheObject: e.data.message === message, after: plain(message) };
    }
  },
  createTextMessage: (args) => tim.createTextMessage(args),
  destroy: () => tim.destroy(),
  // Internal entry the browser and mini-program loaders call on online/offline events.
  networkHint: (hint) => tim.networkHint(hint),
  // Runs another op, reporting the sockets the instance had just before it, in the same tick (an attempt
  // already under way then may still reach a proxy afterwards).
  withSockets: async ({ op, args }) => {
    const socketsBefore = tim.__debugCounts().sockets;
    return { socketsBefore, value: plain(await ops[op](args)) };
  },
  // The same, reporting when the worker handled it and the sockets right after (same tick: no timer ran).
  networkHintProbe: (hint) => {
    const at = Date.now();
    tim.networkHint(hint);
    return { at, socketsAfter: tim.__debugCounts().sockets };
  },
  isReady: () => tim.isReady(),
  getLoginUser: () => tim.getLoginUser(),
  types: () => plain(TIM.TYPES),
  debugCounts: () => tim.__debugCounts(),
  sample: runSample,
  cycles,
  installProbes,
  probeResults: () => probe,
  // Two logins at once: the second must be refused with 2025 while the first is in flight.
  concurrentLogins: async (args) => Promise.allSettled([tim.login(args), tim.login(args)]),
  // A login in the same tick as a logout of the ready session: refused with 8008 (not 2025).
  loginDuringLogout: async (args) => Promise.allSettled([tim.logout(), tim.login(args)]),
  // An API that needs the ready state, called in the same tick as login(): the guard must say 3000.
  guardWhileLoggingIn: async (args) => Promise.allSettled([tim.login(args), tim.sendMessage({ to: 'x', text: 'y' })]),
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
