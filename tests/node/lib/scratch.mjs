// Installs the built package into a scratch npm project the way a user does: `npm pack pkg/`, then
// `npm install <tarball>` plus `ws` (Node 20 has no global WebSocket). Test scripts are copied next to
// it, so `import TIM from 'tim-wasm'` and `require('tim-wasm')` resolve BY NAME.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

let cached = null;

/** The scratch project folder (installed once per test process). */
export function scratchProject() {
  if (cached) return cached;
  const pkg = process.env.TIM_WASM_PKG || path.join(repoRoot, 'pkg');
  if (!existsSync(path.join(pkg, 'package.json'))) {
    throw new Error(`no built package at ${pkg}: run \`cargo xtask build\``);
  }
  const dir = path.join(repoRoot, 'test-output', `node-scratch-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'scratch', private: true }));
  execFileSync('npm', ['pack', pkg, '--pack-destination', dir, '--silent'], { cwd: dir, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.startsWith('tim-wasm-') && f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  const ws = path.join(repoRoot, 'tests/node_modules/ws');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', `./${tarball}`, ws], {
    cwd: dir,
    stdio: 'pipe',
  });
  copyFileSync(path.join(here, '../support/sdk-worker.mjs'), path.join(dir, 'sdk-worker.mjs'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  cached = dir;
  return dir;
}
