// The one way the Node and mini-program tests run a real tim-server: locate the binary, write a TOML config
// with the test's apps, start it on 127.0.0.1 (port 0 the first time, the same port on a restart), read the
// URL from its announce line (`tim-server listening on ws://HOST:PORT/ws`, URL = last token), make
// UserSigs with its own CLI (`tim-server usersig gen`), and call its admin API and /metrics.
// Binary: $TIM_SERVER_BIN, else $CARGO_TARGET_DIR/debug/tim-server, else <repo>/target/debug/tim-server
// (`cargo build -p tim-server`; `cargo xtask test` builds it first).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** How long a start may take before it counts as failed (a busy 2-core machine is slow). */
const START_TIMEOUT_MS = 20_000;

/** The tim-server binary: $TIM_SERVER_BIN, else $CARGO_TARGET_DIR/debug, else <repo>/target/debug. */
export function serverBin() {
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  const bin = process.env.TIM_SERVER_BIN || path.join(targetDir, 'debug', 'tim-server');
  if (!existsSync(bin)) throw new Error(`no tim-server at ${bin}: run \`cargo build -p tim-server\` or set TIM_SERVER_BIN`);
  return bin;
}

/**
 * One app of a test server. `admin` is the app's admin UserID (the server's default, `administrator`, if absent);
 * `extra` more lines of its `[[app]]` table (e.g. `callback_url = "..."`).
 * @typedef {{sdkappid: number, key: string, n: number, admin?: string, extra?: string}} App
 */

/** The apps a test server has unless told otherwise: N=1 and N=2, with known keys. */
export const APPS = {
  one: { sdkappid: 1400000001, key: 'a'.repeat(64), n: 1 },
  two: { sdkappid: 1400000002, key: 'b'.repeat(64), n: 2 },
};

/** The server's default admin UserID. */
const DEFAULT_ADMIN = 'administrator';

/** A UserSig for `app` made by the server's own CLI (`tim-server usersig gen`). */
export function userSig(app, userID, expire = 86400) {
  return execFileSync(
    serverBin(),
    ['usersig', 'gen', '--sdkappid', String(app.sdkappid), '--key', app.key, '--user', userID, '--expire', String(expire)],
    { encoding: 'utf8' },
  ).trim();
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Starts a server (see `TimServer`); resolves it once it announced its URL. */
export async function startServer(options) {
  return new TimServer(options).start();
}

/**
 * A tim-server child process. `url` (ws://...) and `httpUrl` (admin API, /metrics) are set once started;
 * it can be killed (-9 or TERM) and restarted on the same port.
 */
export class TimServer {
  /**
   * @param {{apps?: App[], limits?: Record<string, number>, registry?: string}} options The first app is the
   *   one `userSig`, `admin` and `restart` act on. `limits` is the config's [limits] table (default: no per-IP
   *   login limit); `registry` the lines of its [registry] table (default: none, the in-memory registry).
   */
  constructor({ apps = Object.values(APPS), limits = { login_failures_per_ip: 100000 }, registry = '' } = {}) {
    this.apps = apps;
    this.limits = limits;
    this.registry = registry;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'tim-test-server-'));
    this.configPath = path.join(this.dir, 'server.toml');
    this.bin = serverBin();
    this.proc = null;
    this.port = 0;
    this.stderr = '';
  }

  /** Starts the process on a port the kernel picks. */
  async start() {
    await this.spawn();
    return this;
  }

  /** Starts again on the same port, optionally with a new instance limit for the first app. */
  async restart({ onlineWebInstances } = {}) {
    if (onlineWebInstances !== undefined) this.apps = [{ ...this.apps[0], n: onlineWebInstances }, ...this.apps.slice(1)];
    await this.spawn();
  }

  writeConfig() {
    const apps = this.apps
      .map(
        (a) =>
          `[[app]]\nsdkappid = ${a.sdkappid}\nsecret_key = "${a.key}"\nonline_web_instances = ${a.n}\n` +
          (a.admin ? `admin = "${a.admin}"\n` : '') +
          (a.extra ? `${a.extra}\n` : ''),
      )
      .join('\n');
    const limits = Object.entries(this.limits)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('');
    const registry = this.registry ? `\n[registry]\n${this.registry}\n` : '';
    writeFileSync(this.configPath, `${apps}\n[limits]\n${limits}${registry}`);
  }

  /** Starts the process (config rewritten from the current settings) and waits for its announce line. */
  async spawn() {
    this.writeConfig();
    // Binding the same port again can fail for a moment right after a kill -9 on some kernels: retry briefly.
    const retries = this.port ? 20 : 0;
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.spawnOnce();
        return;
      } catch (err) {
        if (attempt >= retries) throw err;
        await sleep(100);
      }
    }
  }

  spawnOnce() {
    return new Promise((resolve, reject) => {
      const proc = spawn(this.bin, ['--config', this.configPath, '--listen', `127.0.0.1:${this.port}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
      });
      let out = '';
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(new Error(`${err.message}\nstderr:\n${this.stderr.slice(-2000)}`));
      };
      const timer = setTimeout(() => fail(new Error(`tim-server did not announce within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (d) => {
        this.stderr += d;
      });
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => {
        out += d;
        // Only whole lines: the last piece may be a line still being written.
        const line = out.split('\n').slice(0, -1).find((l) => l.includes(' ws://'));
        if (!line || settled) return;
        settled = true;
        clearTimeout(timer);
        this.url = line.trim().split(/\s+/).pop();
        const { hostname, port } = new URL(this.url);
        this.port = Number(port);
        this.httpUrl = `http://${hostname}:${port}`;
        this.proc = proc;
        resolve();
      });
      proc.once('exit', (code, signal) => fail(new Error(`tim-server exited early (${code ?? signal})`)));
      proc.once('error', fail);
    });
  }

  /** Sends `signal` and resolves when the process exited (at once if it is not running). */
  async end(signal) {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  /** SIGKILL: no goodbye frames, no graceful close; the kernel resets the sockets. */
  kill9() {
    return this.end('SIGKILL');
  }

  /** SIGTERM: the graceful shutdown (connections closed with 1012). */
  terminate() {
    return this.end('SIGTERM');
  }

  /** Ends the process with `signal` (graceful by default) and removes its config folder. */
  async stop(signal = 'SIGTERM') {
    await this.end(signal);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A UserSig of the first app. */
  userSig(userID, expire = 86400) {
    return userSig(this.apps[0], userID, expire);
  }

  /** Calls `/v4/<service>/<command>` as the first app's admin; resolves the parsed JSON reply (ActionStatus OK). */
  async admin(service, command, body) {
    const app = this.apps[0];
    const identifier = app.admin || DEFAULT_ADMIN;
    if (!this.adminSig) this.adminSig = this.userSig(identifier);
    const query = new URLSearchParams({
      sdkappid: String(app.sdkappid),
      identifier,
      usersig: this.adminSig,
      random: String(Math.floor(Math.random() * 2 ** 31)),
      contenttype: 'json',
    });
    const reply = await fetch(`${this.httpUrl}/v4/${service}/${command}?${query}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const json = await reply.json();
    if (json.ActionStatus !== 'OK') throw new Error(`admin ${service}/${command} failed: ${JSON.stringify(json)}`);
    return json;
  }

  /** The account's live instances (`query_online_instances`), earliest first: `[{InstanceID, Platform, State, ...}]`. */
  async onlineInstances(userID) {
    return (await this.admin('tim_wasm_admin', 'query_online_instances', { UserID: userID })).Instances;
  }

  /** REST kick of every instance of `userID`. */
  async kick(userID) {
    await this.admin('im_open_login_svc', 'kick', { UserID: userID });
  }

  /** The value of one Prometheus sample, e.g. metric('tim_kicks_total{type="multipleAccount"}'); 0 if absent. */
  async metric(sample) {
    const text = await (await fetch(`${this.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  }
}
