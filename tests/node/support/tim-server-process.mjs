// Runs the real tim-server binary for resilience tests: writes a TOML config on a fixed 127.0.0.1 port,
// waits for the announce line, and can kill -9 and restart it on the same port. Also signs UserSigs
// with `tim-server usersig gen` and calls the vendor-shaped admin API and /metrics.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The tim-server binary: $TIM_SERVER_BIN, else <target dir>/debug/tim-server (`cargo build -p tim-server`). */
export function serverBinary() {
  const explicit = process.env.TIM_SERVER_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target');
  const bin = explicit || path.join(targetDir, 'debug', 'tim-server');
  if (!existsSync(bin)) {
    throw new Error(`tim-server binary not found at ${bin}: run \`cargo build -p tim-server\` or set TIM_SERVER_BIN`);
  }
  return bin;
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * One app's settings, as the test needs them.
 * @typedef {{sdkAppId: number, secretKey: string, onlineWebInstances: number, admin: string}} AppSettings
 */

/** A tim-server child process bound to a fixed port, restartable. */
export class TimServer {
  /**
   * @param {{app: AppSettings, limits?: Record<string, number>}} options
   */
  constructor({ app, limits = {} }) {
    this.app = app;
    this.limits = limits;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'tim-resilience-'));
    this.configPath = path.join(this.dir, 'server.toml');
    this.bin = serverBinary();
    this.proc = null;
    this.stderr = '';
  }

  /** Picks a free port and starts the server on it. */
  async start() {
    this.port = await freePort();
    await this.spawn();
    return this;
  }

  writeConfig() {
    const limits = Object.entries(this.limits)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('');
    const toml =
      `listen = "127.0.0.1:${this.port}"\n\n[[app]]\n` +
      `sdkappid = ${this.app.sdkAppId}\n` +
      `secret_key = "${this.app.secretKey}"\n` +
      `online_web_instances = ${this.app.onlineWebInstances}\n` +
      `admin = "${this.app.admin}"\n\n[limits]\n${limits}`;
    writeFileSync(this.configPath, toml);
  }

  /** Starts the process (config rewritten from the current settings) and waits for its announce line. */
  async spawn() {
    this.writeConfig();
    // Binding can fail for a moment right after a kill -9 on some kernels: retry briefly.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.spawnOnce();
        return;
      } catch (err) {
        if (attempt >= 20) throw err;
        await sleep(100);
      }
    }
  }

  spawnOnce() {
    return new Promise((resolve, reject) => {
      const proc = spawn(this.bin, ['--config', this.configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
      });
      let out = '';
      let settled = false;
      const timer = setTimeout(() => fail(new Error('tim-server did not announce within 10 s')), 10_000);
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        proc.kill('SIGKILL');
        reject(new Error(`${err.message}\nstderr:\n${this.stderr.slice(-2000)}`));
      };
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (d) => {
        this.stderr += d;
      });
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('tim-server listening on '));
        if (line && !settled) {
          settled = true;
          clearTimeout(timer);
          // The URL is the last token of the announce line.
          this.url = line.trim().split(/\s+/).pop();
          this.proc = proc;
          resolve();
        }
      });
      proc.once('exit', (code, signal) => fail(new Error(`tim-server exited early (${code ?? signal})`)));
      proc.once('error', fail);
    });
  }

  /** The admin API / metrics base URL. */
  httpBase() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** SIGKILL: no goodbye frames, no graceful close; the kernel resets the sockets. */
  async kill9() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM: the graceful shutdown (connections closed with 1001); resolves when the process exited. */
  async terminate() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  }

  /** Starts again on the same port, optionally with a new per-account instance limit. */
  async restart({ onlineWebInstances } = {}) {
    if (onlineWebInstances !== undefined) this.app = { ...this.app, onlineWebInstances };
    await this.spawn();
  }

  async stop() {
    await this.kill9();
  }

  /** A UserSig from the real signer (`tim-server usersig gen`). */
  userSig(userId, expireSeconds = 86_400) {
    return execFileSync(
      this.bin,
      [
        'usersig', 'gen',
        '--sdkappid', String(this.app.sdkAppId),
        '--key', this.app.secretKey,
        '--user', userId,
        '--expire', String(expireSeconds),
      ],
      { encoding: 'utf8' },
    ).trim();
  }

  /** Calls `/v4/<service>/<command>` as the app's admin; resolves the parsed JSON reply. */
  async admin(service, command, body) {
    if (!this.adminSig) this.adminSig = this.userSig(this.app.admin);
    const query = new URLSearchParams({
      sdkappid: String(this.app.sdkAppId),
      identifier: this.app.admin,
      usersig: this.adminSig,
      random: String(Math.floor(Math.random() * 2 ** 31)),
      contenttype: 'json',
    });
    const reply = await fetch(`${this.httpBase()}/v4/${service}/${command}?${query}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const json = await reply.json();
    if (json.ActionStatus !== 'OK') {
      throw new Error(`admin ${service}/${command} failed: ${JSON.stringify(json)}`);
    }
    return json;
  }

  /** The account's live instances (`query_online_instances`), earliest first. */
  async onlineInstances(userId) {
    const reply = await this.admin('tim_wasm_admin', 'query_online_instances', { UserID: userId });
    return reply.Instances;
  }

  /** REST kick of every instance of `userId`. */
  async kick(userId) {
    await this.admin('im_open_login_svc', 'kick', { UserID: userId });
  }

  /** The value of one Prometheus sample, e.g. metric('tim_kicks_total{type="multipleAccount"}'); 0 if absent. */
  async metric(sample) {
    const text = await (await fetch(`${this.httpBase()}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
