// A real tim-server for the mini-program tests: a temp TOML config (one app with Online Web Instances
// N=1 and an admin), port 0, the ws:// URL it prints (last token of its listening line), UserSigs from its
// own CLI, and the admin API's list of a user's live instances with their platforms.
// Binary: $TIM_SERVER_BIN, else <target>/debug/tim-server (`cargo build -p tim-server`).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The app of these tests: N=1, a known key, the default admin. */
export const APP = { sdkappid: 1400000501, key: 'c'.repeat(64), n: 1, admin: 'administrator' };

export function serverBin() {
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  const bin = process.env.TIM_SERVER_BIN || path.join(targetDir, 'debug', 'tim-server');
  if (!existsSync(bin)) throw new Error(`no tim-server at ${bin}: run \`cargo build -p tim-server\` or set TIM_SERVER_BIN`);
  return bin;
}

/** A UserSig made by `tim-server usersig gen`. */
export function userSig(userID) {
  return execFileSync(
    serverBin(),
    ['usersig', 'gen', '--sdkappid', String(APP.sdkappid), '--key', APP.key, '--user', userID],
    { encoding: 'utf8' },
  ).trim();
}

/** Starts the server; resolves `{url, httpUrl, stop()}` once it prints the line with its `ws://` URL. */
export async function startServer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tim-miniprogram-server-'));
  const config = path.join(dir, 'server.toml');
  writeFileSync(
    config,
    `[[app]]\nsdkappid = ${APP.sdkappid}\nsecret_key = "${APP.key}"\nonline_web_instances = ${APP.n}\n` +
      `admin = "${APP.admin}"\n\n[limits]\nlogin_failures_per_ip = 100000\n`,
  );
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
      const line = out.split('\n').find((l) => l.includes('ws://'));
      if (line) {
        clearTimeout(timer);
        resolve(line.trim().split(/\s+/).pop());
      }
    });
    child.on('exit', (code) => reject(new Error(`tim-server exited with ${code}: ${stderr}`)));
  });
  const httpUrl = url.replace(/^ws:/, 'http:').replace(/\/ws$/, '');
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  return {
    url,
    httpUrl,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          removeDir();
          resolve();
        });
        if (child.exitCode !== null) {
          removeDir();
          resolve();
          return;
        }
        child.kill('SIGTERM');
      }),
  };
}

/** The live instances of `userID` as the admin API lists them: `[{InstanceID, Platform, State, ...}]`. */
export async function onlineInstances(server, userID) {
  const query = new URLSearchParams({
    sdkappid: String(APP.sdkappid),
    identifier: APP.admin,
    usersig: userSig(APP.admin),
    random: String(Math.floor(Math.random() * 1e9)),
    contenttype: 'json',
  });
  const res = await fetch(`${server.httpUrl}/v4/tim_wasm_admin/query_online_instances?${query}`, {
    method: 'POST',
    body: JSON.stringify({ UserID: userID }),
  });
  const body = await res.json();
  if (body.ActionStatus !== 'OK') throw new Error(`query_online_instances failed: ${JSON.stringify(body)}`);
  return body.Instances;
}
