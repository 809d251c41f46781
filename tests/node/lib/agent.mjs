// One SDK instance in its own Node process, importing the package BY NAME (this file is copied into the
// scratch project). The test drives it over IPC: {id, op, args} → {id, ok, value} | {id, ok: false,
// error}; every SDK event is pushed as {event: {name, data}} in the order the listeners ran.

import TIM from 'tim-wasm';

let tim = null;
const EVENTS = ['SDK_READY', 'SDK_NOT_READY', 'KICKED_OUT', 'NET_STATE_CHANGE', 'ERROR', 'SDK_DESTROY', 'MESSAGE_RECEIVED'];

const plain = (v) => (v === undefined ? null : JSON.parse(JSON.stringify(v)));
const describe = (e) => ({
  isError: e instanceof Error,
  name: e?.name,
  code: e?.code,
  message: String(e?.message ?? e),
  data: plain(e?.data),
});

/** Runs a documentation sample as written, with a console that records what the sample prints. */
async function runSample(code, waitForLines) {
  const lines = [];
  const record = (level) => (...args) => lines.push({ level, args: args.map((a) => (a instanceof Error ? describe(a) : plain(a))) });
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
  installProbes,
  probeResults: () => probe,
  create: (options) => {
    tim = TIM.create(options);
    tim.setLogLevel(options.logLevel ?? 4);
    for (const key of EVENTS) {
      tim.on(TIM.EVENT[key], (event) => process.send({ event: { key, name: event.name, data: plain(event.data) } }));
    }
    return { VERSION: TIM.VERSION, EVENT: TIM.EVENT, TYPES: TIM.TYPES };
  },
  login: (args) => tim.login(args),
  logout: () => tim.logout(),
  sendMessage: (args) => tim.sendMessage(args),
  isReady: () => tim.isReady(),
  getLoginUser: () => tim.getLoginUser(),
  debugCounts: () => tim.__debugCounts(),
  destroy: () => tim.destroy(),
  sample: ({ code, waitForLines }) => runSample(code, waitForLines),
  cycles,
  // Two logins at once: the second must be refused with 2025 while the first is in flight.
  concurrentLogins: async (args) => Promise.allSettled([tim.login(args), tim.login(args)]),
  // An API that needs the ready state, called in the same tick as login(): the guard must say 3000.
  guardWhileLoggingIn: async (args) =>
    Promise.allSettled([tim.login(args), tim.sendMessage({ to: 'x', text: 'y' })]),
};

process.on('message', async ({ id, op, args }) => {
  try {
    const value = await ops[op](args);
    process.send({ id, ok: true, value: plain(value) });
  } catch (err) {
    process.send({ id, ok: false, error: describe(err) });
  }
});
process.send({ started: true });
