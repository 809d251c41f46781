// Starts a real tim-server for a test: a TOML config with the test's apps, port 0, and the URL it prints.
// Binary: $TIM_SERVER_BIN, else <repo>/target/debug/tim-server (`cargo xtask test` builds it first).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function serverBin() {
  const bin = process.env.TIM_SERVER_BIN || path.join(repoRoot, 'target/debug/tim-server');
  if (!existsSync(bin)) throw new Error(`no tim-server at ${bin}: build it or set TIM_SERVER_BIN`);
  return bin;
}

/** The apps every test server has: N=1 and N=2, with known keys. */
export const APPS = {
  one: { sdkappid: 1400000001, key: 'a'.repeat(64), n: 1 },
  two: { sdkappid: 1400000002, key: 'b'.repeat(64), n: 2 },
};

/** A UserSig made by the server's own CLI (`tim-server usersig gen`). */
export function userSig(app, userID, expire = 86400) {
  return execFileSync(
    serverBin(),
    ['usersig', 'gen', '--sdkappid', String(app.sdkappid), '--key', app.key, '--user', userID, '--expire', String(expire)],
    { encoding: 'utf8' },
  ).trim();
}

/** Starts the server; resolves {url, stop()} once it prints its listening line. */
export async function startServer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tim-node-test-'));
  const config = path.join(dir, 'server.toml');
  const apps = Object.values(APPS)
    .map((a) => `[[app]]\nsdkappid = ${a.sdkappid}\nsecret_key = "${a.key}"\nonline_web_instances = ${a.n}\n`)
    .join('\n');
  writeFileSync(config, `${apps}\n[limits]\nlogin_failures_per_ip = 100000\n`);
  const child = spawn(serverBin(), ['--config', config, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`tim-server did not start: ${stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/(ws:\/\/127\.0\.0\.1:\d+\/ws)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`tim-server exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}
