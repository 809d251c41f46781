// The test's handle on one agent process (agent.mjs in the scratch project): calls SDK methods, records
// every event, waits for events with a deadline.

import { fork } from 'node:child_process';
import path from 'node:path';

import { scratchProject } from './scratch.mjs';

export class Agent {
  static async start(label = 'agent') {
    const agent = new Agent(label);
    await agent.started;
    return agent;
  }

  constructor(label) {
    this.label = label;
    this.events = [];
    this.pending = new Map();
    this.nextId = 1;
    this.waiters = [];
    this.child = fork(path.join(scratchProject(), 'agent.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.started = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.on('message', (msg) => {
        if (msg.started) return resolve();
        if (msg.event) {
          this.events.push(msg.event);
          this.waiters = this.waiters.filter((w) => !w());
          return;
        }
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        p?.(msg);
      });
    });
  }

  /** Calls an op; resolves {ok, value} or {ok: false, error}. */
  raw(op, args) {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ id, op, args });
    });
  }

  /** Calls an op; throws the agent's error description if it failed. */
  async call(op, args) {
    const r = await this.raw(op, args);
    if (!r.ok) throw Object.assign(new Error(`${this.label}.${op}: ${r.error.code} ${r.error.message}`), r.error);
    return r.value;
  }

  /** Calls an op that must fail; returns the error description. */
  async fail(op, args) {
    const r = await this.raw(op, args);
    if (r.ok) throw new Error(`${this.label}.${op} succeeded but should fail: ${JSON.stringify(r.value)}`);
    return r.error;
  }

  /** Resolves with the events once `key` occurred (count times), or rejects after `ms`. */
  waitFor(key, { count = 1, ms = 10000 } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.events.filter((e) => e.key === key).length >= count) {
          clearTimeout(timer);
          resolve(this.events);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`${this.label}: no ${key} within ${ms} ms; events: ${JSON.stringify(this.events)}`));
      }, ms);
      if (!check()) this.waiters.push(check);
    });
  }

  keys() {
    return this.events.map((e) => e.key);
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}
