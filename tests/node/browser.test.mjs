// The package's browser entry in headless Chromium (Debian's, driven by playwright-core): a page does
// `import TIM from '<pkg>/index.mjs'` with no init call, logs in to a real tim-server with the browser's own
// WebSocket, and two pages of one account (N=1) kick each other as the rule says.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { APPS, startServer, userSig } from './lib/server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = process.env.TIM_WASM_PKG || path.join(repo, 'pkg');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

let server;
let web;
let webUrl;
let browser;

before(async () => {
  server = await startServer();
  // Serves pkg/ at /pkg/ and an empty page at /.
  web = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<!doctype html><title>tim-wasm</title>');
    }
    const file = path.join(pkg, path.normalize(url.pathname.replace(/^\/pkg\//, '')));
    if (!url.pathname.startsWith('/pkg/') || !file.startsWith(pkg) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(await readFile(file));
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  webUrl = `http://127.0.0.1:${web.address().port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (web ? web.close(r) : r()));
  await server?.stop();
});

/** A page (its own browsing context, so its own module instance) with the SDK imported and created. */
async function sdkPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(webUrl);
  await page.evaluate(
    async ({ SDKAppID, serverUrl }) => {
      const { default: TIM } = await import('/pkg/index.mjs');
      const tim = TIM.create({ SDKAppID, serverUrl });
      tim.setLogLevel(4);
      window.events = [];
      for (const key of Object.keys(TIM.EVENT)) tim.on(TIM.EVENT[key], (e) => window.events.push({ key, data: e.data ?? null }));
      window.TIM = TIM;
      window.tim = tim;
    },
    { SDKAppID: APPS.one.sdkappid, serverUrl: server.url },
  );
  return page;
}

const keys = (page) => page.evaluate(() => window.events.map((e) => e.key));

test('import TIM from the browser entry needs no init; login, SDK_READY, N=1 kick, logout', async () => {
  const user = `browser-${process.pid}`;
  const sig = userSig(APPS.one, user);
  const first = await sdkPage();
  const second = await sdkPage();

  const statics = await first.evaluate(() => ({ v: TIM.VERSION, kick: TIM.TYPES.KICKED_OUT_MULT_ACCOUNT }));
  assert.equal(statics.kick, 'multipleAccount');
  assert.match(statics.v, /^\d+\.\d+\.\d+/);

  const login = await first.evaluate(({ user, sig }) => tim.login({ userID: user, userSig: sig }), { user, sig });
  assert.deepEqual(login, { code: 0, data: { actionStatus: 'OK', errorCode: 0, errorInfo: '' } });
  await first.waitForFunction(() => window.events.some((e) => e.key === 'SDK_READY'));
  assert.equal(await first.evaluate(() => tim.getLoginUser()), user);

  await second.evaluate(({ user, sig }) => tim.login({ userID: user, userSig: sig }), { user, sig });
  await first.waitForFunction(() => window.events.some((e) => e.key === 'SDK_NOT_READY'));
  const kicked = await first.evaluate(() => window.events.find((e) => e.key === 'KICKED_OUT'));
  assert.deepEqual(kicked.data, { type: 'multipleAccount' });
  const order = (await keys(first)).filter((k) => ['SDK_READY', 'KICKED_OUT', 'SDK_NOT_READY'].includes(k));
  assert.deepEqual(order, ['SDK_READY', 'KICKED_OUT', 'SDK_NOT_READY']);
  assert.equal(await second.evaluate(() => tim.isReady()), true);

  const logout = await second.evaluate(() => tim.logout());
  assert.deepEqual(logout, { code: 0, data: {} });
  const err = await first.evaluate(() => tim.logout().catch((e) => ({ isError: e instanceof Error, code: e.code, name: e.name })));
  assert.deepEqual(err, { isError: true, code: 2024, name: 'TimError' });
});
