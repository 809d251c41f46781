// Installs the built package (pkg/, from `cargo xtask build`) into a scratch npm project the way a user
// does (`npm pack`, then `npm install` of the tarball, plus `ws` for Node 20's missing WebSocket), and
// copies the worker script next to it so that `import TIM from 'tim-wasm'` resolves by name.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

/** The package directory: $TIM_WASM_PKG, else <repo>/pkg. */
export function packageDir() {
  const dir = process.env.TIM_WASM_PKG || path.join(repoRoot, 'pkg');
  if (!existsSync(path.join(dir, 'package.json'))) {
    throw new Error(`no built package at ${dir}: run \`cargo xtask build\` or set TIM_WASM_PKG`);
  }
  return dir;
}

function npm(args, cwd) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pack(dir, dest) {
  npm(['pack', dir, '--pack-destination', dest, '--silent'], dest);
  // npm prints the file name; listing is sturdier than parsing its output.
  return readdirSync(dest).filter((f) => f.endsWith('.tgz'));
}

/**
 * Creates the scratch project and returns the path of the worker script inside it.
 * @returns {string}
 */
export function installScratchProject() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tim-resilience-npm-'));
  const tarballs = path.join(dir, 'tarballs');
  execFileSync('mkdir', ['-p', tarballs]);
  pack(packageDir(), tarballs);
  pack(path.join(repoRoot, 'tests', 'node_modules', 'ws'), tarballs);
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'tim-resilience-scratch', private: true, type: 'module' }, null, 2),
  );
  const files = readdirSync(tarballs).map((f) => `./tarballs/${f}`);
  npm(['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', ...files], dir);
  const worker = path.join(dir, 'sdk-worker.mjs');
  copyFileSync(path.join(here, 'sdk-worker.mjs'), worker);
  return worker;
}
