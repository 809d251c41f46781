// Every code sample of the READMEs (README.md, pkg-template/README.md, crates/tim-server/README.md) and
// docs/*.md, as written, against real parts. The blocks come from ./lib/doc-blocks.mjs; a block's language
// tag decides how it runs (KINDS there), and a block of an unknown kind fails the first test below.
// - js: its own Node process in a scratch project with the built package installed by name; the only
//   edits are the server URL (ws://127.0.0.1:9000/ws, wss://im.example.com/ws become the test server's)
//   and, for a sample that uses a `userSig` (or `tim`) it does not make, a declaration before it (for
//   `tim`: create and log in as user1 first, `destroy()` after). It must exit 0 within 20 s and print
//   nothing of its own to stderr. Mini-program code runs in tests/miniprogram/samples.test.mjs.
// - diff: the new side (context and + lines) runs as a js sample.
// - sh: the lines of one doc run in order in one session, through RULES below; a line no rule knows fails.
//   `tim-server` is the binary the doc's own `cargo install --path crates/tim-server` line installed
//   (into a temp --root, sharing the target dir), else the debug build. Long-running servers get
//   `--listen 127.0.0.1:0` and stay up (with a user logged in) until the doc's last line ran. Placeholders
//   of a synopsis (FILE, HOST:PORT, KEY, N, K, U, SIG, ...) are filled, optional `[...]` parts included.
//   A json block right after a command's block is its output: the real output must have its shape.
// - toml: the real server loads the config (ports 0, "..." values, Redis and callback URLs filled; an
//   [[app]] appended to a fragment without one) and a user logs in.
// - http: the State.StateChange request the server README shows, against the one a real server sends.
// - json: each block parses; a "Client → server" block's frames are sent as written (a real UserSig for
//   "eJw...") to a real server, which must understand each, and the "Server → client" block after it must
//   have the fields of the frames that came back. text: nothing to run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { KINDS, JS_LANGS, allBlocks, blocks, commandLines, esbuildLine, isMiniProgram, repoRoot as repo } from './lib/doc-blocks.mjs';
import { scratchProject } from './lib/scratch.mjs';
import { serverBin, startServer, userSig } from './lib/server.mjs';

/** The app the samples name: SDKAppID 1400000000 with the README's development key. */
const APP = { sdkappid: 1400000000, key: '0123456789abcdef0123456789abcdef', n: 1 };
/** URLs the samples use for the server, replaced by the test server's. */
const SAMPLE_URLS = ['ws://127.0.0.1:9000/ws', 'wss://im.example.com/ws'];
const TMP = mkdtempSync(path.join(os.tmpdir(), 'tim-samples-'));
// npm settings, not flags, so that the lines run as written: no audit or funding calls, the cache first.
const npmEnv = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_prefer_offline: 'true' };

const all = allBlocks();
const runnable = all.filter((b) => !b.skip);

let server;
/** What the tests started besides `server` (redis-server, the callback listener): ended after the last test. */
const cleanups = [];
before(async () => {
  server = await startServer({ apps: [APP] });
});
after(async () => {
  await server?.stop();
  for (const end of cleanups) await end();
  rmSync(TMP, { recursive: true, force: true });
});

test('every block of the docs is of a known kind, or skipped with a reason', (t) => {
  const unknown = all.filter((b) => !b.skip && !(b.lang in KINDS)).map((b) => `${b.file}:${b.line} \`\`\`${b.lang}`);
  assert.deepEqual(unknown, [], `blocks of no known kind (tag them with one of ${Object.keys(KINDS).join(', ')}, or mark them <!-- sample: skip REASON -->)`);
  for (const b of all.filter((x) => x.skip !== null)) {
    assert.ok(b.skip.length > 10, `${b.file}:${b.line}: a skip needs its reason`);
    t.diagnostic(`skipped: ${b.file}:${b.line} \`\`\`${b.lang}: ${b.skip}`);
  }
  for (const file of ['README.md', 'pkg-template/README.md', 'docs/migration.md']) {
    assert.ok(blocks(file).some((b) => JS_LANGS.includes(b.lang)), `${file} has a js block (the extraction finds them)`);
  }
});

// ---------------------------------------------------------------------------------------------- js, diff

/** Runs JS source in its own Node process in `cwd`; resolves {status, stdout, stderr}. */
function runNode(code, cwd, name, timeoutMs = 20_000) {
  const file = path.join(cwd, `${name}.mjs`);
  writeFileSync(file, code);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status: status ?? signal, stdout, stderr });
    });
  });
}

/** A js sample with the test's URL and, where it uses one it does not make, a UserSig or a logged-in `tim`. */
function fillJs(source) {
  let code = source;
  for (const url of SAMPLE_URLS) code = code.replaceAll(url, server.url);
  const sig = JSON.stringify(userSig(APP, 'user1'));
  if (/\buserSig\b/.test(code) && !/\b(const|let|var)\s+userSig\b/.test(code)) {
    code = `const userSig = ${sig};\n${code}`;
  }
  if (/\btim\./.test(code) && !/\b(const|let|var)\s+tim\b/.test(code)) {
    code =
      `import TIM from 'tim-wasm';\nconst tim = TIM.create({ SDKAppID: ${APP.sdkappid}, serverUrl: ${JSON.stringify(server.url)} });\n` +
      `await tim.login({ userID: 'user1', userSig: ${sig} });\n${code}\n` +
      `await new Promise((r) => setTimeout(r, 500));\nawait tim.destroy();\n`;
  }
  return code;
}

/** The new side of a diff: context lines and + lines, without their first column. */
function newSide(diff) {
  return diff
    .split('\n')
    .filter((l) => !l.startsWith('-') && !l.startsWith('@@'))
    .map((l) => l.slice(1))
    .join('\n');
}

const nodeJs = runnable.filter((b) => (JS_LANGS.includes(b.lang) && !isMiniProgram(b)) || b.lang === 'diff');
nodeJs.forEach((block, index) => {
  test(`${block.lang} sample ${block.file}:${block.line} runs as written`, async () => {
    const source = block.lang === 'diff' ? newSide(block.code) : block.code;
    const r = await runNode(fillJs(source), scratchProject(), `sample-${index}`);
    const own = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('TIM '));
    assert.equal(r.status, 0, `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.deepEqual(own, [], `the sample printed to stderr:\n${r.stderr}`);
  });
});

test('mini-program js blocks are the ones tests/miniprogram/samples.test.mjs runs', () => {
  const mini = runnable.filter((b) => JS_LANGS.includes(b.lang) && isMiniProgram(b));
  assert.ok(mini.some((b) => b.file === 'docs/miniprogram.md'), 'docs/miniprogram.md has js blocks');
  assert.match(readFileSync(path.join(repo, 'tests/miniprogram/samples.test.mjs'), 'utf8'), /isMiniProgram\(/);
});

// ------------------------------------------------------------------------------------------- toml, http

function freePort() {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let redis;
/** One redis-server for the configs that name a Redis (loopback, a free port, no persistence). */
async function redisUrl() {
  if (!redis) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(TMP, 'redis-'));
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    redis = { proc, url: `redis://127.0.0.1:${port}/0` };
    cleanups.push(() => proc.kill('SIGKILL'));
  }
  return redis.url;
}

/** Requests to the callback listener (State.StateChange): {method, url, headers, body}. */
const callbacks = [];
let callbackUrl;
async function callbackListener() {
  if (!callbackUrl) {
    const web = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        callbacks.push({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
      });
    });
    await new Promise((r) => web.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => web.close(r)));
    callbackUrl = `http://127.0.0.1:${web.address().port}/im/callback`;
  }
  return callbackUrl;
}

/** A config block made runnable: ports 0, placeholder values, Redis and callback URLs ours; apps and their keys. */
async function fillToml(toml) {
  let text = toml
    .replace(/"127\.0\.0\.1:\d+"/g, '"127.0.0.1:0"')
    .replace(/^(\s*secret_key\s*=\s*)"\.\.\."/gm, `$1"${APP.key}"`)
    .replace(/^(\s*callback_token\s*=\s*)"\.\.\."/gm, '$1"sample-token"');
  if (/^\s*url\s*=\s*"redis/m.test(text)) text = text.replace(/^(\s*url\s*=\s*)"rediss?:\/\/[^"]*"/m, `$1"${await redisUrl()}"`);
  if (/^\s*callback_url\s*=/m.test(text)) text = text.replace(/^(\s*callback_url\s*=\s*)"[^"]*"/m, `$1"${await callbackListener()}"`);
  const ids = [...text.matchAll(/^\s*sdkappid\s*=\s*(\d+)/gm)].map((m) => Number(m[1]));
  if (!ids.length) {
    text += `\n[[app]]\nsdkappid = ${APP.sdkappid}\nsecret_key = "${APP.key}"\n`;
    ids.push(APP.sdkappid);
  }
  assert.doesNotMatch(text, /"\.\.\."/, 'a placeholder value is left');
  return { text, app: { sdkappid: ids[0], key: APP.key } };
}

/** The repo's tim-server (or `bin`) with `args`, until its listening line: {proc, url, httpUrl, stdout}. */
function startProcess(bin, args, env = process.env) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, RUST_LOG: 'warn' } });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error('no listening line within 20 s')), 20_000);
    const fail = (e) => {
      clearTimeout(timer);
      proc.kill('SIGKILL');
      reject(new Error(`${bin} ${args.join(' ')}: ${e.message}\nstdout:\n${out}\nstderr:\n${err}`));
    };
    proc.stderr.on('data', (d) => (err += d));
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^tim-server listening on (ws:\/\/\S+)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      const { host } = new URL(m[1]);
      resolve({ proc, url: m[1], httpUrl: `http://${host}`, stdout: out });
    });
    proc.once('exit', (code, signal) => fail(new Error(`exited (${code ?? signal})`)));
  });
}

/** A Node process of the installed SDK (in `cwd`) logged in to `url` as `user`; resolves once ready (kill it to end). */
async function loggedIn(cwd, url, app, user, sig = userSig(app, user)) {
  const file = path.join(cwd, `login-${process.pid}-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import TIM from 'tim-wasm';
const tim = TIM.create({ SDKAppID: ${app.sdkappid}, serverUrl: ${JSON.stringify(url)} });
tim.setLogLevel(4);
const r = await tim.login({ userID: ${JSON.stringify(user)}, userSig: ${JSON.stringify(sig)} });
console.log(JSON.stringify({ code: r.code, ready: tim.isReady() }));
// Online until killed, or until this test process goes away (stdin closes).
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`,
  );
  const child = spawn(process.execPath, [file], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`login as ${user} at ${url}: no answer\n${err.slice(-1500)}`));
    }, 20_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (/^\{.*\}$/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`login as ${user} at ${url}: exit ${code}\n${out}\n${err.slice(-1500)}`));
    });
  });
  child.removeAllListeners('exit');
  const result = out.split('\n').find((l) => l.startsWith('{'));
  assert.deepEqual(JSON.parse(result), { code: 0, ready: true }, `login as ${user} at ${url}:\n${out}`);
  return child;
}

/** Same keys, recursively; an array's elements against the sample's first (when both have one). */
function assertShape(actual, sample, where) {
  if (Array.isArray(sample)) {
    assert.ok(Array.isArray(actual), `${where}: an array`);
    if (sample.length && actual.length) for (const [i, a] of actual.entries()) assertShape(a, sample[0], `${where}[${i}]`);
  } else if (sample && typeof sample === 'object') {
    assert.ok(actual && typeof actual === 'object' && !Array.isArray(actual), `${where}: an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(sample).sort(), `${where}: the keys`);
    for (const k of Object.keys(sample)) assertShape(actual[k], sample[k], `${where}.${k}`);
  } else {
    assert.equal(typeof actual, typeof sample, `${where}: a ${typeof sample}`);
  }
}

for (const block of runnable.filter((b) => b.lang === 'toml')) {
  test(`toml ${block.file}:${block.line} is a config the real server accepts, and a user logs in`, async () => {
    const { text, app } = await fillToml(block.code);
    const file = path.join(mkdtempSync(path.join(TMP, 'toml-')), 'server.toml');
    writeFileSync(file, text);
    const started = await startProcess(serverBin(), ['--config', file]);
    const before = callbacks.length;
    let child;
    try {
      child = await loggedIn(scratchProject(), started.url, app, 'alice');
      if (/^\s*metrics_listen\s*=/m.test(text)) {
        const m = /^tim-server metrics on (http:\/\/\S+)$/m.exec(started.stdout);
        assert.ok(m, `the metrics line:\n${started.stdout}`);
        assert.match(await (await fetch(m[1])).text(), /tim_/);
      }
      if (callbackUrl && /^\s*callback_url\s*=/m.test(text)) {
        // The callback the config asks for comes to our listener; the server README's http block shows it.
        for (let i = 0; i < 100 && callbacks.length === before; i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(callbacks.length > before, 'a State.StateChange callback arrived');
        const sample = runnable.find((b) => b.file === block.file && b.lang === 'http');
        if (sample) checkHttpSample(sample, callbacks[before]);
      }
    } finally {
      child?.kill('SIGKILL');
      started.proc.kill('SIGTERM');
    }
  });
}

const checkedHttp = new Set();
/** The http block (request line, headers, blank line, JSON body) against a real request. */
function checkHttpSample(sample, real) {
  const [head, ...rest] = sample.code.split(/\n\s*\n/);
  const [requestLine, ...headers] = head.split('\n');
  const [method, target] = requestLine.split(' ');
  assert.equal(real.method, method);
  const sampleQuery = new URLSearchParams(target.split('?')[1]);
  const realQuery = new URL(real.url, 'http://x').searchParams;
  assert.deepEqual([...realQuery.keys()].sort(), [...sampleQuery.keys()].sort(), 'the query parameters');
  for (const h of headers) {
    const [name, value] = h.split(/:\s*/);
    assert.equal(real.headers[name.toLowerCase()]?.split(';')[0], value.trim(), `header ${name}`);
  }
  assertShape(JSON.parse(real.body), JSON.parse(rest.join('\n\n')), 'the body');
  checkedHttp.add(`${sample.file}:${sample.line}`);
}

test('each http block was checked against a real request (by its doc\'s toml test)', () => {
  for (const b of runnable.filter((x) => x.lang === 'http')) {
    assert.ok(checkedHttp.has(`${b.file}:${b.line}`), `${b.file}:${b.line} was compared with a real callback`);
  }
});

// -------------------------------------------------------------------------------------------------- json

/** The frames each doc's "Client → server" block got back from a real server, by doc. */
const replies = new Map();

/** Sends `frames` in order on one WebSocket to the test server; resolves the frames it got back. */
async function exchange(frames) {
  const { WebSocket } = await import(path.join(repo, 'tests/node_modules/ws/wrapper.mjs'));
  const ws = new WebSocket(server.url);
  const got = [];
  await new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => {
      for (const f of frames) ws.send(JSON.stringify(f));
    });
    ws.on('message', (data) => {
      got.push(JSON.parse(String(data)));
      if (got.length === frames.length) resolve();
    });
    ws.on('close', (code) => reject(new Error(`closed ${code} after ${JSON.stringify(got)}`)));
    setTimeout(() => reject(new Error(`no reply to every frame: ${JSON.stringify(got)}`)), 10_000);
  });
  ws.removeAllListeners('close');
  ws.close();
  return got;
}

for (const block of runnable.filter((b) => b.lang === 'json')) {
  test(`json ${block.file}:${block.line} parses${/→/.test(block.heading) ? ` (${block.heading}: the frames against a real server)` : ''}`, async (t) => {
    let values;
    try {
      values = [JSON.parse(block.code)];
    } catch {
      values = block.code.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    }
    if (/^Client → server$/.test(block.heading)) {
      // Sent as written, with a real UserSig for the placeholder: every one is understood (no 80002, the
      // connection stays open) and answered.
      const frames = values.map((f) => (f.userSig === 'eJw...' ? { ...f, userSig: userSig({ ...APP, sdkappid: f.sdkAppId }, f.userId) } : f));
      const got = await exchange(frames);
      for (const r of got) assert.ok(r.type !== 'error' || ![80001, 80002].includes(r.code), `a frame was not understood: ${JSON.stringify(r)}`);
      assert.ok(got.some((r) => r.type === 'loginAck'), `logged in: ${JSON.stringify(got)}`);
      replies.set(block.file, got);
      t.diagnostic(`replies: ${got.map((f) => f.type + (f.code ? ` ${f.code}` : '')).join(', ')}`);
    }
    if (/^Server → client$/.test(block.heading)) {
      // Each frame type the real server sent back above has the fields shown here.
      const got = replies.get(block.file);
      assert.ok(got, 'the client frames of this doc ran first');
      let compared = 0;
      for (const sample of values) {
        const real = got.find((r) => r.type === sample.type && (r.type !== 'loginAck' || !r.repeatLogin));
        if (!real) continue;
        assert.deepEqual(Object.keys(real).sort(), Object.keys(sample).sort(), `the fields of ${sample.type}`);
        compared += 1;
      }
      t.diagnostic(`${compared} of ${values.length} frame types compared with the server's`);
      assert.ok(compared >= 3, `${compared} server frames compared`);
    }
  });
}

// ---------------------------------------------------------------------------------------------------- sh

/** Values for the placeholders of a synopsis line. */
function placeholders(session) {
  return {
    get FILE() {
      return session.configFile();
    },
    'HOST:PORT': '127.0.0.1:0',
    KEY: APP.key,
    ORIGIN: 'http://127.0.0.1:8700',
    N: String(APP.sdkappid),
    K: APP.key,
    U: 'user1',
    SECONDS: '600',
    SIG: session.sig ?? '',
    UNIX: String(Math.floor(Date.now() / 1000)),
  };
}

/** A synopsis line as a command: optional `[...]` parts included (once), placeholders filled. */
function fill(cmd, session) {
  const values = placeholders(session);
  const words = cmd
    .replace(/\[([^\]]+)\](\.\.\.)?/g, '$1')
    .split(' ')
    .map((w) => (w in values ? values[w] : w));
  const left = words.filter((w) => /^[A-Z][A-Z_:]*$/.test(w));
  assert.deepEqual(left, [], `placeholders with no value in \`${cmd}\``);
  return words;
}

/** One doc's sh lines, run in order: the installed tools, the app folder, the servers started. */
class Session {
  constructor(file) {
    this.file = file;
    this.dir = mkdtempSync(path.join(TMP, 'sh-'));
    // `pkg/` as the reader has it beside them (the repo root), without writing into the checkout.
    symlinkSync(path.join(repo, 'pkg'), path.join(this.dir, 'pkg'));
    this.binDir = path.dirname(serverBin());
    this.running = [];
    this.sig = null;
    this.server = null;
  }

  env() {
    const tools = path.join(repo, 'tests/node_modules/.bin');
    return { ...npmEnv, ...this.extraEnv, PATH: `${this.binDir}:${tools}:${process.env.PATH}` };
  }

  /** The config the doc shows (its first toml block, filled), for a `--config FILE` line. */
  configFile() {
    if (!this.config) {
      const toml = blocks(this.file).find((b) => b.lang === 'toml');
      assert.ok(toml, `${this.file}: a --config FILE line needs the doc's toml block`);
      this.config = path.join(this.dir, 'server.toml');
      this.pendingToml = toml.code;
    }
    return this.config;
  }

  /** An npm project the doc's `npm install` lines install into (a fresh one per `fresh` call). */
  app(fresh = false) {
    if (!this.appDir || fresh) {
      const dir = mkdtempSync(path.join(this.dir, 'app-'));
      writeFileSync(path.join(dir, 'package.json'), '{"name":"app","private":true}');
      if (fresh) return dir;
      this.appDir = dir;
    }
    return this.appDir;
  }

  run(bin, args, cwd, what, env = {}) {
    const r = spawnSync(bin, args, { cwd, env: { ...this.env(), ...env }, encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `${what} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** The tarball of pkg/ (`npm pack pkg/`, once). */
  tarball() {
    if (!this.packed) {
      const out = this.run('npm', ['pack', 'pkg/'], this.dir, 'npm pack pkg/');
      this.packed = path.join(this.dir, out.trim().split('\n').pop());
      assert.ok(existsSync(this.packed), `npm pack wrote ${this.packed}`);
    }
    return this.packed;
  }

  async stop() {
    for (const p of this.running.reverse()) p.kill('SIGTERM');
    this.running = [];
  }
}

/** Checks `require(name)` resolves in `cwd` (and, for tim-wasm, that it is the SDK). */
function requires(cwd, name) {
  const out = execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(name)}); console.log(typeof m.create === 'function' ? 'sdk' : typeof m)`], { cwd, encoding: 'utf8' });
  if (name === 'tim-wasm') assert.equal(out.trim(), 'sdk', `require('tim-wasm') in ${cwd}`);
}

/** `npm install <what>` into `cwd`: the folder of this checkout, the packed tarball, `ws`, or the name. */
function npmInstall(session, what, cwd, line) {
  let target;
  if (/^\/path\/to\/tim-wasm\/pkg\/?$/.test(what)) target = path.join(repo, 'pkg');
  else if (/^\/path\/to\/tim-wasm-[\d.]+\.tgz$/.test(what)) {
    target = session.tarball();
    assert.equal(path.basename(target), path.basename(what), `${line.file}:${line.line}: the tarball is named as the doc says`);
  } else if (what === 'tim-wasm') target = session.tarball(); // the registry release is this same tarball
  else if (what === 'ws') target = 'ws';
  else assert.fail(`${line.file}:${line.line}: no rule installs \`${what}\``);
  session.run('npm', ['install', target], cwd, `npm install ${what}`);
  requires(cwd, what === 'ws' ? 'ws' : 'tim-wasm');
}

/** Each rule: a pattern of the command line and what runs it. A line that matches none fails its doc's test. */
const RULES = [
  [
    /^cargo xtask build$/,
    // `cargo xtask test` runs the build itself right before this layer: pkg/ must be its output, up to date.
    () => {
      const manifest = JSON.parse(readFileSync(path.join(repo, 'pkg/package.json'), 'utf8'));
      assert.notEqual(manifest.version, '0.0.0-template', 'pkg/package.json is the built one');
      const readme = (dir) => readFileSync(path.join(repo, dir, 'README.md'), 'utf8');
      assert.equal(readme('pkg'), readme('pkg-template'), 'pkg/ is up to date with pkg-template/ (run cargo xtask build)');
      return '(pkg/ is the output of the build cargo xtask test ran before this layer)';
    },
  ],
  [
    /^cargo install --path crates\/tim-server$/,
    (s, line) => {
      const root = path.join(s.dir, 'cargo-root');
      const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, 'target');
      // The shared target dir: the release build is reused (seconds), not redone in a temp dir.
      s.run('cargo', [...line.cmd.split(' ').slice(1), '--root', root], repo, line.cmd, { CARGO_TARGET_DIR: targetDir });
      s.binDir = path.join(root, 'bin');
      assert.ok(existsSync(path.join(s.binDir, 'tim-server')), 'cargo install put tim-server in --root/bin');
      return `(--root ${root}, CARGO_TARGET_DIR ${targetDir})`;
    },
  ],
  [
    /^npm pack pkg\/$/,
    (s, line) => {
      s.packed = null;
      const name = path.basename(s.tarball());
      const said = /\b(tim-wasm-[\d.]+\.tgz)\b/.exec(line.comment);
      if (said) assert.equal(name, said[1], `${line.file}:${line.line}: the tarball's name as the doc says`);
    },
  ],
  [
    /^npm publish pkg\/$/,
    // Never publish from a test: the dry run packs and checks the same package.
    (s) => {
      const out = s.run('npm', ['publish', '--dry-run', 'pkg/'], s.dir, 'npm publish --dry-run pkg/');
      assert.match(out, /tim-wasm@\d+\.\d+\.\d+/);
      return '(as npm publish --dry-run pkg/)';
    },
  ],
  [
    /^npm install (\S+)$/,
    (s, line) => {
      const what = /^npm install (\S+)$/.exec(line.cmd)[1];
      npmInstall(s, what, s.app(), line);
      const alt = line.alternative && /^npm install (\S+)$/.exec(line.alternative);
      if (alt) npmInstall(s, alt[1], s.app(true), line);
    },
  ],
  [
    /^esbuild /,
    // tests/bundlers/bundlers.test.mjs runs this line as written and logs its page in from Chromium.
    (s, line) => {
      assert.equal(esbuildLine(), line.cmd);
      assert.ok(readFileSync(path.join(repo, 'tests/bundlers/bundlers.test.mjs'), 'utf8').includes('esbuildLine()'), 'tests/bundlers runs it');
      return '(run as written by tests/bundlers/bundlers.test.mjs)';
    },
  ],
  [
    /^tim-server usersig gen\b/,
    async (s, line) => {
      const args = fill(line.cmd, s).slice(1);
      s.sig = s.run('tim-server', args, s.dir, line.cmd).trim();
      assert.match(s.sig, /^[A-Za-z0-9*_-]{50,}$/, 'a UserSig');
      // Log in with it where a running server has that app (the doc's dev server).
      const sdkappid = Number(args[args.indexOf('--sdkappid') + 1]);
      const key = args[args.indexOf('--key') + 1];
      const user = args[args.indexOf('--user') + 1];
      if (s.server && s.server.app.sdkappid === sdkappid && s.server.app.key === key) {
        s.running.push(await loggedIn(s.loginDir(), s.server.url, s.server.app, user, s.sig));
        return `(logged in as ${user} with it)`;
      }
    },
  ],
  [
    /^tim-server usersig verify\b/,
    (s, line) => {
      assert.ok(s.sig, 'a UserSig from the usersig gen line before');
      assert.equal(s.run('tim-server', fill(line.cmd, s).slice(1), s.dir, line.cmd).trim(), '{"ok":true}');
    },
  ],
  [
    /^tim-server (--dev|--config)\b/,
    async (s, line) => {
      const args = fill(line.cmd, s).slice(1);
      if (s.pendingToml) {
        writeFileSync(s.config, (await fillToml(s.pendingToml)).text);
        s.pendingToml = null;
      }
      const app = args.includes('--dev')
        ? { sdkappid: 1400000000, key: args.includes('--dev-key') ? args[args.indexOf('--dev-key') + 1] : null }
        : (await fillToml(blocks(s.file).find((b) => b.lang === 'toml').code)).app;
      // A fixed port would collide with anything else on this machine: always a free one.
      const listen = args.indexOf('--listen');
      if (listen >= 0) args[listen + 1] = '127.0.0.1:0';
      else args.push('--listen', '127.0.0.1:0');
      const started = await startProcess(path.join(s.binDir, 'tim-server'), args, s.env());
      s.running.push(started.proc);
      const prints = /^prints: (.+)$/.exec(line.comment);
      if (prints) assert.equal(started.url.replace(/:\d+\//, ':9000/'), prints[1].replace(/^tim-server listening on /, ''), 'the announced URL');
      if (args.includes('--metrics-listen')) {
        const m = /^tim-server metrics on (http:\/\/\S+)$/m.exec(started.stdout);
        assert.ok(m, `the metrics line:\n${started.stdout}`);
        assert.match(await (await fetch(m[1])).text(), /tim_/);
      }
      if (!app.key) app.key = /[0-9a-f]{64}/.exec(started.stdout)?.[0];
      s.server = { ...started, app };
      // Someone online, so the admin lines that follow have an instance to show.
      s.running.push(await loggedIn(s.loginDir(), started.url, app, 'alice'));
      return `(${started.url})`;
    },
  ],
  [
    /^curl /,
    (s, line, next) => {
      assert.ok(s.server, 'a server started by an earlier line');
      const cmd = line.cmd.replaceAll('http://127.0.0.1:9000', s.server.httpUrl);
      const out = s.run('sh', ['-c', cmd], s.dir, line.cmd);
      const reply = JSON.parse(out);
      assert.equal(reply.ActionStatus, 'OK', out);
      if (next?.lang === 'json') assertShape(reply, JSON.parse(next.code), `${next.file}:${next.line}`);
      return `(${JSON.stringify(reply).slice(0, 100)}...)`;
    },
    (s) => ({ SIG: userSig(s.server.app, 'administrator') }),
  ],
];

Session.prototype.loginDir = function loginDir() {
  // The doc's own app when it installed the SDK and ws, else the scratch project.
  const app = this.appDir;
  return app && existsSync(path.join(app, 'node_modules/tim-wasm')) && existsSync(path.join(app, 'node_modules/ws')) ? app : scratchProject();
};

const shFiles = [...new Set(runnable.filter((b) => b.lang === 'sh').map((b) => b.file))];
for (const file of shFiles) {
  test(`sh lines of ${file} run in order`, { timeout: 900_000 }, async (t) => {
    const session = new Session(file);
    const fileBlocks = blocks(file);
    try {
      for (const [i, block] of fileBlocks.entries()) {
        if (block.lang !== 'sh' || block.skip) continue;
        const lines = commandLines(block);
        for (const [j, line] of lines.entries()) {
          const rule = RULES.find(([re]) => re.test(line.cmd));
          assert.ok(rule, `${file}:${line.line}: no rule runs \`${line.cmd}\``);
          const next = j === lines.length - 1 ? fileBlocks[i + 1] : undefined;
          session.extraEnv = rule[2] ? rule[2](session) : {};
          const started = Date.now();
          const note = await rule[1](session, line, next);
          t.diagnostic(`${file}:${line.line} ${line.cmd} ${note || ''} ${Date.now() - started} ms`);
        }
      }
    } finally {
      await session.stop();
    }
  });
}
