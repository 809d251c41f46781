// docs/migration.md's promise: the official docs' login, kick-out, logout and C2C text samples run here
// unchanged apart from two lines, the import and the server URL. One Node process (in a scratch project
// with the package installed by name) runs, in order: the import line, the official create lines with the
// proxyServer line added, the kick-out sample, the login sample (userID/userSig filled in), the C2C
// receive and send samples, the logout sample, and a second login; a second process then logs in as the
// same user (N=1), and the first must print the kick type. Each sample runs in its own block, verbatim:
// the login/kick/logout samples from the official login page (shared/reference), the C2C ones as
// docs/migration.md quotes them; the glue between them only waits for the SDK's events.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sample } from './lib/doc-samples.mjs';
import { scratchProject } from './lib/scratch.mjs';
import { APPS, startServer, userSig } from './lib/server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MIGRATION = readFileSync(path.join(repo, 'docs/migration.md'), 'utf8');

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

/** The ```js block of docs/migration.md that starts with `first`. */
function migrationBlock(first) {
  const start = MIGRATION.indexOf(`\`\`\`js\n${first}`);
  assert.ok(start >= 0, `docs/migration.md has a js block starting with ${first}`);
  const body = start + '```js\n'.length;
  return MIGRATION.slice(body, MIGRATION.indexOf('\n```', body));
}

/** Runs an ES module in the scratch project; resolves the child and a promise of its stdout lines. */
function run(name, code) {
  const file = path.join(scratchProject(), name);
  writeFileSync(file, code);
  const child = spawn(process.execPath, [file], { cwd: scratchProject(), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buffer = '';
  const waiters = [];
  child.stdout.on('data', (d) => {
    buffer += d;
    const parts = buffer.split('\n');
    buffer = parts.pop();
    lines.push(...parts);
    waiters.forEach((w) => w());
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const waitFor = (re, ms = 20_000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line ${re} in ${ms} ms; stdout: ${lines.join('\n')}\nstderr: ${stderr}`)), ms);
      const check = () => {
        const line = lines.find((l) => re.test(l));
        if (line) {
          clearTimeout(t);
          resolve(line);
        }
      };
      waiters.push(check);
      check();
    });
  return { child, lines, waitFor, stderr: () => stderr };
}

test("the official login, kick, logout and C2C samples run with only the import and server URL changed", async () => {
  const user = `migrating-${process.pid}`;
  const sig = userSig(APPS.one, user);
  const fill = (code) => code.replace("'your userID'", JSON.stringify(user)).replace("'your userSig'", JSON.stringify(sig));
  const ready = 'await new Promise((resolve) => tim.once(TIM.EVENT.SDK_READY, resolve));';
  const script = [
    "import TIM from 'tim-wasm';", // changed line 1: the import
    'let options = {',
    `  SDKAppID: ${APPS.one.sdkappid},`,
    `  proxyServer: ${JSON.stringify(server.url)},`, // changed line 2: the server URL
    '};',
    'let tim = TIM.create(options);',
    'tim.setLogLevel(4);',
    "tim.registerPlugin({'tim-upload-plugin': {}});",
    `{\n${sample('let onKickedOut = function (event) {', 'tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);')}\n}`,
    `{\n${fill(sample('let promise = tim.login('))}\n}`,
    ready,
    `{\n${migrationBlock('let onMessageReceived = function(event) {')}\n}`,
    `{\n${migrationBlock('// 1. Create a message instance.')}\n}`,
    "await new Promise((resolve) => setTimeout(resolve, 500));",
    `{\n${sample('let promise = tim.logout();')}\n}`,
    'await new Promise((resolve) => tim.once(TIM.EVENT.SDK_NOT_READY, resolve));',
    `{\n${fill(sample('let promise = tim.login('))}\n}`,
    ready,
    "console.log('WAITING-FOR-KICK');",
    'await new Promise((resolve) => tim.once(TIM.EVENT.SDK_NOT_READY, resolve));',
    "console.log('DONE');",
  ].join('\n');
  const first = run('migration-first.mjs', script);
  try {
    await first.waitFor(/WAITING-FOR-KICK/);
    const other = run(
      'migration-second.mjs',
      `import TIM from 'tim-wasm';
       const tim = TIM.create({ SDKAppID: ${APPS.one.sdkappid}, serverUrl: ${JSON.stringify(server.url)} });
       tim.setLogLevel(4);
       await tim.login({ userID: ${JSON.stringify(user)}, userSig: ${JSON.stringify(sig)} });
       await tim.logout();`,
    );
    await first.waitFor(/^DONE$/);
    await new Promise((resolve) => other.child.once('exit', resolve));
    const out = first.lines;
    // The login sample printed imResponse.data twice (two logins), the send sample the imResponse, the
    // logout sample {}, and the kick sample the kick type.
    assert.equal(out.filter((l) => l.includes("actionStatus: 'OK'")).length, 2, out.join('\n'));
    const sent = out.findIndex((l) => l.includes('code: 0') || l.includes("status: 'success'"));
    assert.ok(sent >= 0, `the send sample printed a successful imResponse:\n${out.join('\n')}`);
    assert.ok(out.includes('{}'), `the logout sample printed {}:\n${out.join('\n')}`);
    assert.equal(out.at(-2), 'multipleAccount', out.join('\n'));
    assert.doesNotMatch(first.stderr(), /error/i, 'no sample printed an error');
  } finally {
    first.child.kill('SIGKILL');
  }
});
