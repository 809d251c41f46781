// Every code sample of the READMEs and docs/ as written, against a real tim-server:
// - each ```js block runs in its own Node process inside a scratch project where the built package is
//   installed by name; the only edits are the server URL (ws://127.0.0.1:9000/ws becomes the test server's)
//   and, when the sample uses a `userSig` it does not declare, a declaration with a real UserSig;
//   it must exit 0 within 20 s and print nothing of its own to stderr (the SDK's `TIM ...` logs aside);
// - the ```sh lines that run the installed tools (`tim-server ...`, `npm pack`, `npm install <path>`) run
//   too, with the paths of this checkout (`tim-server --dev` on a free port instead of 9000). Lines that
//   build (`cargo xtask ...`, `cargo install ...`) are what `cargo xtask test` itself does before this
//   layer, and `npm publish` would publish: those are listed, not run.
// A block that uses `tim` without making it (a fragment, such as the official samples quoted in
// docs/migration.md) runs after a prelude that creates the instance and logs in as user1, and is followed
// by `tim.destroy()`. docs/miniprogram.md's blocks are the login doc's samples inside a mini-program `Page`:
// tests/miniprogram runs those samples in the simulated mini-program runtime.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { scratchProject } from './lib/scratch.mjs';
import { serverBin, startServer, userSig } from './lib/server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The app the samples name: SDKAppID 1400000000 with the README's development key. */
const APP = { sdkappid: 1400000000, key: '0123456789abcdef0123456789abcdef', n: 1 };
const SAMPLE_URL = 'ws://127.0.0.1:9000/ws';
const FILES = ['README.md', 'pkg-template/README.md', ...readdirSync(path.join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

let server;
before(async () => {
  server = await startServer({ apps: [APP] });
});
after(async () => {
  await server?.stop();
});

/** The fenced blocks of a markdown file: {lang, code, line}; indented fences (inside lists) included. */
export function blocks(file) {
  const lines = readFileSync(path.join(repo, file), 'utf8').split('\n');
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent.length));
    found.push({ lang, code: body.join('\n'), line: i + 1, file });
    i = j;
  }
  return found;
}

const all = FILES.flatMap(blocks);
const isMiniProgram = (b) => b.file === 'docs/miniprogram.md' || /\bPage\(|TIM\.init\(/.test(b.code);
const jsBlocks = all.filter((b) => ['js', 'javascript', 'mjs'].includes(b.lang) && !isMiniProgram(b));

test('the docs have JS samples to run (the extraction finds them)', () => {
  const where = new Set(jsBlocks.map((b) => b.file));
  for (const file of ['README.md', 'pkg-template/README.md', 'docs/migration.md']) assert.ok(where.has(file), `${file} has a js block`);
});

/** Runs a JS sample in the scratch project; resolves {status, stdout, stderr}. */
function runJs(block, index) {
  let code = block.code.replaceAll(SAMPLE_URL, server.url);
  if (/\buserSig\b/.test(code) && !/\b(const|let|var)\s+userSig\b/.test(code)) {
    code = `const userSig = ${JSON.stringify(userSig(APP, 'user1'))};\n${code}`;
  }
  if (/\btim\./.test(code) && !/\b(const|let|var)\s+tim\b/.test(code)) {
    const sig = JSON.stringify(userSig(APP, 'user1'));
    code =
      `import TIM from 'tim-wasm';\nconst tim = TIM.create({ SDKAppID: ${APP.sdkappid}, serverUrl: ${JSON.stringify(server.url)} });\n` +
      `await tim.login({ userID: 'user1', userSig: ${sig} });\n${code}\n` +
      `await new Promise((r) => setTimeout(r, 500));\nawait tim.destroy();\n`;
  }
  const file = path.join(scratchProject(), `sample-${index}.mjs`);
  writeFileSync(file, code);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: scratchProject(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status: status ?? signal, stdout, stderr });
    });
  });
}

jsBlocks.forEach((block, index) => {
  test(`js sample ${block.file}:${block.line} runs as written`, async () => {
    const r = await runJs(block, index);
    const own = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('TIM '));
    assert.equal(r.status, 0, `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.deepEqual(own, [], `the sample printed to stderr:\n${r.stderr}`);
  });
});

const shLines = all
  .filter((b) => b.lang === 'sh')
  .flatMap((b) => b.code.split('\n').map((l) => ({ ...b, cmd: l.replace(/\s+#.*$/, '').trim() })))
  .filter((l) => l.cmd);

/** The sh lines this layer runs, and what it runs instead of a path that only exists in a reader's setup. */
const RUNNABLE = [
  [/^tim-server usersig /, (cmd) => ({ bin: serverBin(), args: cmd.split(/\s+/).slice(1) })],
  [/^tim-server --dev\b/, (cmd) => ({ bin: serverBin(), args: [...cmd.split(/\s+/).slice(1), '--listen', '127.0.0.1:0'], announce: true })],
  [/^npm pack pkg\/$/, () => ({ bin: 'npm', args: ['pack', path.join(repo, 'pkg'), '--pack-destination', mkdtempSync(path.join(os.tmpdir(), 'tim-pack-'))] })],
  [/^npm install \/path\/to\/tim-wasm\/pkg$/, () => ({ bin: 'npm', args: ['install', '--no-audit', '--no-fund', '--offline', path.join(repo, 'pkg')], fresh: true })],
];

test('the README install and server lines run (tim-server, npm pack, npm install <folder>)', async () => {
  const ran = [];
  for (const line of shLines) {
    const rule = RUNNABLE.find(([re]) => re.test(line.cmd));
    if (!rule) continue;
    const { bin, args, announce, fresh } = rule[1](line.cmd);
    const cwd = fresh ? mkdtempSync(path.join(os.tmpdir(), 'tim-app-')) : repo;
    if (fresh) writeFileSync(path.join(cwd, 'package.json'), '{"name":"app","private":true}');
    if (announce) {
      // A long-running server: it must print its URL line, then it is stopped.
      const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const url = await new Promise((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`${line.cmd}: no URL line`)), 20_000);
        child.stdout.on('data', (d) => {
          out += d;
          const m = /tim-server listening on (ws:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
      });
      child.kill('SIGTERM');
      assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    } else {
      const r = spawnSync(bin, args, { cwd, encoding: 'utf8' });
      assert.equal(r.status, 0, `${line.file}:${line.line} \`${line.cmd}\` failed:\n${r.stdout}\n${r.stderr}`);
      if (fresh) execFileSync(process.execPath, ['-e', "require('tim-wasm')"], { cwd });
    }
    ran.push(line.cmd);
  }
  for (const cmd of ['npm pack pkg/', 'npm install /path/to/tim-wasm/pkg']) assert.ok(ran.includes(cmd), `ran ${cmd}`);
  assert.ok(ran.some((c) => c.startsWith('tim-server usersig gen')), 'ran the UserSig line');
  assert.ok(ran.some((c) => c.startsWith('tim-server --dev')), 'ran the dev server line');
});
