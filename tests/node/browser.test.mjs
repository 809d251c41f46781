// The package's browser entry in headless Chromium (Debian's, driven by playwright-core): a page does
// `import TIM from '<pkg>/index.mjs'` with no init call, logs in to a real tim-server with the browser's own
// WebSocket, and two pages of one account (N=1) kick each other as the rule says.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { APPS, startServer, userSig } from './lib/server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = process.env.TIM_WASM_PKG || path.join(repo, 'pkg');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** The page's origin (loopback, like all test traffic); its requests never leave the browser (servePackage). */
const ORIGIN = 'http://127.0.0.1';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Playwright answers the page's own requests, so no file server runs: `/` is an empty page and
 * `/pkg/<file>` the package's file. The URL parser has already removed every `..` segment, encoded or not.
 */
async function servePackage(context) {
  await context.route(`${ORIGIN}/**`, (route) => {
    const { pathname } = new URL(route.request().url());
    if (pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>tim-wasm</title>' });
    const file = path.join(pkg, pathname.replace(/^\/pkg\//, ''));
    if (!pathname.startsWith('/pkg/') || !existsSync(file)) return route.fulfill({ status: 404 });
    return route.fulfill({ path: file });
  });
}

/** A page (its own browsing context, so its own module instance) with the SDK imported and created. */
async function sdkPage() {
  // A page Playwright answers has no address of its own, so Chromium would refuse its sockets to the
  // loopback tim-server (ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS) without this permission.
  const context = await browser.newContext({ permissions: ['local-network-access'] });
  await servePackage(context);
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/`);
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

  const before = Date.now();
  await second.evaluate(({ user, sig }) => tim.login({ userID: user, userSig: sig }), { user, sig });
  const after = Date.now();
  await first.waitForFunction(() => window.events.some((e) => e.key === 'SDK_NOT_READY'));
  const kicked = await first.evaluate(() => window.events.find((e) => e.key === 'KICKED_OUT'));
  // Who took the slot: the second page (the browser entry logs in as 'web') and when it logged in.
  const { time, ...rest } = kicked.data;
  assert.deepEqual(rest, { type: 'multipleAccount', platform: 'web' });
  assert.ok(time >= before && time <= after, `kick time ${time} outside [${before}, ${after}]`);
  const order = (await keys(first)).filter((k) => ['SDK_READY', 'KICKED_OUT', 'SDK_NOT_READY'].includes(k));
  assert.deepEqual(order, ['SDK_READY', 'KICKED_OUT', 'SDK_NOT_READY']);
  assert.equal(await second.evaluate(() => tim.isReady()), true);

  const logout = await second.evaluate(() => tim.logout());
  assert.deepEqual(logout, { code: 0, data: {} });
  const err = await first.evaluate(() => tim.logout().catch((e) => ({ isError: e instanceof Error, code: e.code, name: e.name })));
  assert.deepEqual(err, { isError: true, code: 2024, name: 'TimError' });
});

test('in the browser, a failed connect is logged with its URL and the usual causes (the browser hides the reason)', async () => {
  // A port nothing listens on: Chromium's error event says nothing about why.
  const closed = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const url = `ws://127.0.0.1:${closed}/ws`;
  const page = await sdkPage();
  const warnings = [];
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  const message = await page.evaluate(async (url) => {
    const t = TIM.create({ SDKAppID: 1400000777, serverUrl: url });
    t.setLogLevel(2);
    return t.login({ userID: 'u', userSig: 's' }).then(() => null, (e) => e.message);
  }, url);
  const said = `socket error: could not connect to ${url}: browsers hide why: server down? wrong port/path? ws:// on an https page? a proxy?`;
  assert.ok(message.endsWith(`(code 1006: ${said}).`), message);
  assert.deepEqual(warnings, [`TIM ${said}`]);
});
