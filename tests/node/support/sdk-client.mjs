// The test's handle on one SDK instance running in a worker thread (see sdk-worker.mjs): calls its
// methods, records every event it emits with a timestamp, and waits for events with a deadline.

import { Worker } from 'node:worker_threads';

/** One SDK instance (its own worker, its own wasm module). */
export class SdkClient {
  /**
   * @param {string} workerPath the worker script inside the scratch project
   * @param {{SDKAppID: number, serverUrl: string | string[], label?: string, events?: string[], random?: number}}
   *   options `events`: the TIM.EVENT keys to record (default: the state, kick, network and error events);
   *   `random`: the 32 bits of each of the SDK's random draws in the worker (fixes the SDK's random choices, e.g. the start URL)
   */
  static async start(workerPath, { SDKAppID, serverUrl, label = 'client', events, random }) {
    const client = new SdkClient(workerPath, { SDKAppID, serverUrl, label, events, random });
    await client.started;
    return client;
  }

  constructor(workerPath, { SDKAppID, serverUrl, label, events, random }) {
    this.label = label;
    /** Every event so far: {key, name, data, t}; key is the TIM.EVENT key (e.g. 'KICKED_OUT'). */
    this.events = [];
    this.waiters = new Set();
    this.pending = new Map();
    this.nextId = 1;
    const logLevel = Number(process.env.TIM_TEST_LOG_LEVEL ?? 3);
    this.worker = new Worker(workerPath, { workerData: { SDKAppID, serverUrl, logLevel, events, random } });
    this.started = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (msg) => {
        if (msg.started) resolve();
        else if (msg.event) this.onEvent(msg.event);
        else this.onReply(msg);
      });
    });
    this.worker.on('error', (err) => {
      for (const { reject } of this.pending.values()) reject(err);
      this.pending.clear();
    });
  }

  onEvent(event) {
    this.events.push(event);
    for (const waiter of this.waiters) waiter();
  }

  onReply({ id, ok, value, error }) {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    if (ok) call.resolve(value);
    else call.reject(Object.assign(new Error(`${this.label}: ${error.message}`), error));
  }

  call(op, args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args });
    });
  }

  /** Calls an op that must fail; resolves its error description ({isError, name, code, message, data}). */
  async fail(op, args) {
    let value;
    try {
      value = await this.call(op, args);
    } catch (err) {
      const { isError, name, code, message, data } = err;
      return { isError, name, code, message, data };
    }
    throw new Error(`${this.label}.${op} succeeded but should fail: ${JSON.stringify(value)}`);
  }

  /** The TIM.EVENT keys of the events so far, in order. */
  keys() {
    return this.events.map((e) => e.key);
  }

  login(userID, userSig) {
    return this.call('login', { userID, userSig });
  }

  logout() {
    return this.call('logout');
  }

  sendMessage(to, text) {
    return this.call('sendMessage', { to, text });
  }

  /** What the browser/mini-program loaders report on a network change: 'online' or 'offline'. */
  networkHint(hint) {
    return this.call('networkHint', hint);
  }

  /** {@link networkHint}, resolving `{at, socketsAfter}`: the worker's Date.now() when it handled the hint
   * and its socket count right after, in the same tick. */
  networkHintProbe(hint) {
    return this.call('networkHintProbe', hint);
  }

  destroy() {
    return this.call('destroy');
  }

  isReady() {
    return this.call('isReady');
  }

  /** `tim.__debugCounts()`: sockets, closures, and `nextDeadline` (the instance's next timer, or null). */
  debugCounts() {
    return this.call('debugCounts');
  }

  /**
   * Whether the instance has stopped for good: no socket and no timer, so no reconnect, hello or retry can
   * ever follow without an API call. This is the condition a "no reconnect" check waits on instead of a
   * sleep; the core's simulated-time tests prove that a stopped instance stays stopped.
   */
  async isStopped() {
    const { sockets, nextDeadline } = await this.debugCounts();
    return sockets === 0 && nextDeadline === null;
  }

  /** Events since index `from`, as compact strings: 'NET_STATE_CHANGE:connecting', 'KICKED_OUT:userSigExpired'. */
  trace(from = 0) {
    return this.events.slice(from).map(describeEvent);
  }

  /**
   * Resolves the first event at index >= `from` matching `predicate` (given the event and its compact
   * string); rejects after `timeoutMs` with the trace so far.
   */
  waitFor(predicate, { from = 0, timeoutMs = 10_000, what = 'event' } = {}) {
    const matches = typeof predicate === 'string' ? (e) => describeEvent(e) === predicate : predicate;
    return new Promise((resolve, reject) => {
      const check = () => {
        const index = this.events.findIndex((e, i) => i >= from && matches(e));
        if (index < 0) return false;
        finish();
        resolve({ index, event: this.events[index] });
        return true;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms; events: ${this.trace(from).join(', ')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  /** Ends the worker (and with it the instance's sockets and timers). */
  async terminate() {
    await this.worker.terminate();
  }
}

/** 'NAME' or 'NAME:detail' for an event, detail being the kick type or the network state. */
export function describeEvent(event) {
  const detail = event.data?.type ?? event.data?.state ?? event.data?.code;
  return detail === undefined ? event.key : `${event.key}:${detail}`;
}
