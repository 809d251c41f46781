// The package's types as users meet them: the built pkg/ packed and installed BY NAME in a scratch
// project (no `paths` map), then
// - arethetypeswrong (every resolver: node10, node16 CJS and ESM, bundler) and publint (strict): clean;
// - `tsc --strict` on usage files under `moduleResolution` bundler, node16 ESM and node16 CommonJS.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { scratchProject } from '../node/lib/scratch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = (name) => path.join(here, '..', 'node_modules', '.bin', name);

/** Runs a tool; fails the test with its output unless it exits 0. */
function run(tool, args, cwd) {
  const r = spawnSync(bin(tool), args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `${tool} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function tarball() {
  const dir = scratchProject();
  const name = readdirSync(dir).find((f) => f.startsWith('tim-wasm-') && f.endsWith('.tgz'));
  assert.ok(name, 'the scratch project has the packed tarball');
  return path.join(dir, name);
}

test('arethetypeswrong: no problem under any resolver (node10, node16 CJS/ESM, bundler)', () => {
  const out = run('attw', [tarball(), '--format', 'ascii', '--no-emoji'], scratchProject());
  assert.match(out, /No problems found/);
});

test('publint --strict: no error, warning or suggestion', () => {
  const pkg = path.join(scratchProject(), 'node_modules', 'tim-wasm');
  const out = run('publint', ['run', pkg, '--strict', '--pack', 'false'], scratchProject());
  assert.match(out, /All good/);
});

/** A TypeScript project in the scratch project (so `tim-wasm` resolves from its node_modules). */
function tsProject(name, { type, compilerOptions, file }) {
  const dir = path.join(scratchProject(), `ts-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `ts-${name}`, private: true, type }));
  copyFileSync(path.join(here, file), path.join(dir, file));
  const tsconfig = {
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', types: [], lib: ['es2022', 'dom'], ...compilerOptions },
    files: [file],
  };
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  return dir;
}

const PROJECTS = {
  bundler: { type: 'module', file: 'usage.ts', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' } },
  'node16-esm': { type: 'module', file: 'usage.ts', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
  'node16-cjs': { type: 'commonjs', file: 'usage.cts', compilerOptions: { module: 'node16', moduleResolution: 'node16' } },
};

for (const [name, project] of Object.entries(PROJECTS)) {
  test(`tsc --strict accepts the usage file under ${name} resolution`, () => {
    const dir = tsProject(name, project);
    run('tsc', ['-p', dir], dir);
  });
}

test('tsc rejects wrong usage (the checks can fail)', () => {
  const dir = tsProject('negative', PROJECTS['node16-esm']);
  writeFileSync(
    path.join(dir, 'usage.ts'),
    `import TIM from 'tim-wasm';
     const tim = TIM.create({ SDKAppID: 1 });
     const kick: TIM.TYPES.KICKED_OUT_MULT_ACCOUNT = 'multipleDevice';
     tim.createTextMessage({ to: 'u', conversationType: 'GROUP', payload: { text: 'x' } });
     tim.setLogLevel('1');
     console.log(kick);\n`,
  );
  const r = spawnSync(bin('tsc'), ['-p', dir], { cwd: dir, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  for (const line of [3, 4, 5]) assert.match(r.stdout, new RegExp(`usage\\.ts\\(${line},`), r.stdout);
});
