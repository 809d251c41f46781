// Shared helpers of the bench scripts (run by `cargo xtask bench`, which links
// node_modules/tim-wasm here to pkg/ and passes the server URL, user, UserSig and frames).
'use strict';

const path = require('node:path');
const { performance } = require('node:perf_hooks');

/** `--name value` pairs of the command line. */
function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

/** The `ws` package (Node 20 has no global WebSocket). */
function wsClass() {
  return require('ws');
}

/** Prints the result line the Rust driver reads, and ends. */
function finish(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

/** Prints `{"skipped": why}`, and ends. */
function skip(why) {
  finish({ skipped: String(why && why.message ? why.message : why) });
}

/**
 * A fresh copy of the package: a new wasm instance with its own TIM registry. TIM.create returns the same
 * instance for the same SDKAppID, so a second instance of one account needs a second module load.
 */
function freshTIM() {
  const entry = require.resolve('tim-wasm');
  const dir = path.dirname(entry);
  for (const key of Object.keys(require.cache)) if (key.startsWith(dir)) delete require.cache[key];
  const mod = require('tim-wasm');
  return mod && mod.default ? mod.default : mod;
}

/** Resolves when `tim` emits `name` next. */
function nextEvent(tim, name) {
  return new Promise((resolve) => {
    const handler = (event) => {
      tim.off(name, handler);
      resolve(event);
    };
    tim.on(name, handler);
  });
}

/** A raw WebSocket client: connect, send text, await the next text frame. */
class RawClient {
  constructor(url) {
    const WS = wsClass();
    this.ws = new WS(url);
    this.queue = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => this.ws.on('close', resolve));
    this.ws.on('message', (data) => {
      const text = data.toString();
      const w = this.waiters.shift();
      if (w) w(text);
      else this.queue.push(text);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }
  next() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  async request(text) {
    this.ws.send(text);
    return this.next();
  }
  async close() {
    this.ws.close();
    await this.closed;
  }
}

/**
 * A TIM instance of `TIM` for the bench's app and server, over `ws`, logging only errors. Its
 * `lastSocketClosed()` resolves when the last socket it opened has closed: a sample starts once the
 * previous connection is gone, as the raw floor's samples do (an SDK socket still closing behind a
 * `logout()` would otherwise slow the next login's connect and be counted against the SDK).
 */
function createQuietTim(TIM, a) {
  let last = Promise.resolve();
  class TrackedWebSocket extends wsClass() {
    constructor(...args) {
      super(...args);
      last = new Promise((resolve) => this.once('close', resolve));
    }
  }
  const tim = TIM.create({ SDKAppID: Number(a.sdkappid), serverUrl: a.url, WebSocket: TrackedWebSocket });
  if (typeof tim.setLogLevel === 'function') tim.setLogLevel(4);
  tim.lastSocketClosed = () => last;
  return tim;
}

/** Warm-up samples of each side, dropped: the JIT tiers the SDK's wasm and `ws` up over the first ones. */
const WARMUP = 100;

/**
 * The main of a latency script: `makeSides(args)` gives `{sdk, raw}`, each a function that takes one
 * sample (µs). They run in turn in this one process, the first of each pair alternating, so that the
 * machine's drift and the process's state fall on both sides alike; after WARMUP pairs, `--count` pairs
 * (default 1000) are kept. Prints {"sdk_us": [...], "raw_us": [...]} (or {"skipped": why} if one threw).
 */
async function runPaired(makeSides) {
  const a = args();
  const count = Number(a.count || 1000);
  const kept = { sdk: [], raw: [] };
  try {
    const sides = await makeSides(a);
    for (let i = 0; i < WARMUP + count; i++) {
      const order = i % 2 === 0 ? ['sdk', 'raw'] : ['raw', 'sdk'];
      for (const side of order) {
        const sample = await sides[side]();
        if (i >= WARMUP) kept[side].push(sample);
      }
    }
  } catch (e) {
    return skip(e);
  }
  finish({ sdk_us: kept.sdk, raw_us: kept.raw });
}

/** Rejects after `ms` so that no loop can hang. */
function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

module.exports = {
  args,
  wsClass,
  finish,
  skip,
  freshTIM,
  createQuietTim,
  nextEvent,
  RawClient,
  within,
  runPaired,
  now: () => performance.now(),
};
