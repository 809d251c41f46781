// Browser test of the demo page: Debian's Chromium driven by playwright-core (never a downloaded browser),
// the real demo server and a real tim-server. The page server serves nothing outside www-demo/ and pkg/.
// Two tabs log in as the same user:
//   N=1 → the first tab logs KICKED_OUT (multipleAccount) then SDK_NOT_READY and shows "logged out";
//   N=2 → both stay ready; logout in one tab leaves the other ready;
//   the page's REST kick → KICKED_OUT (REST_API_Kick) then SDK_NOT_READY;
//   the page's offline/online events → NET_STATE_CHANGE disconnected, then an immediate reconnect.
// Screenshots of each step go to test-output/browser/.
//
// Run: `cargo xtask demo --browser-test` (builds, starts the demo, sets TIM_DEMO_URL), or by hand with a
// running demo: `TIM_DEMO_URL=http://127.0.0.1:8700 node --test tests/browser/demo.test.mjs`. Without
// TIM_DEMO_URL the test starts `cargo xtask demo --no-build --port 0` itself and stops it afterwards.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = path.join(repo, 'test-output', 'browser');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** How long a tab may take to reach a state (login round trip, kick push). */
const STATE_TIMEOUT_MS = 15_000;
/** How long "stays ready" is watched for after the second login. */
const QUIET_MS = 1_500;

let demo;
let browser;
let context;
let shotNumber = 0;

before(async () => {
  mkdirSync(shots, { recursive: true });
  demo = await startDemo();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
});

after(async () => {
  // Leave the server as the demo starts it (N=1), then stop everything this test started.
  if (context) {
    const page = await openTab('cleanup').catch(() => null);
    if (page) await setOnlineWebInstances(page, 1).catch(() => {});
  }
  if (browser) await browser.close();
  if (demo) demo.stop();
});

test('the page server serves www-demo/ and pkg/ only: no path, however encoded, reaches the repo around them', async () => {
  // Raw requests, so that no client tidies the path first. pkg/ and www-demo/ both sit in the repo root,
  // beside Cargo.toml.
  const secret = readFileSync(path.join(repo, 'Cargo.toml'), 'utf8').split('\n')[0];
  for (const target of [
    '/../Cargo.toml',
    '/pkg/../Cargo.toml',
    '/%2e%2e/Cargo.toml',
    '/%2E%2E/Cargo.toml',
    '/pkg/%2e%2e/Cargo.toml',
    '/..%2fCargo.toml',
    '/pkg/..%2f..%2fCargo.toml',
    '/%2e%2e%2fCargo.toml',
    '/pkg/..%5cCargo.toml',
    '//../Cargo.toml',
    '/www-demo/../Cargo.toml',
  ]) {
    const reply = await rawGet(demo.url, target);
    assert.match(reply.head, /^HTTP\/1\.1 4\d\d /, `${target} is refused: ${reply.head}`);
    assert.ok(!reply.body.includes(secret), `${target} leaked Cargo.toml`);
  }
  for (const [target, type] of [
    ['/', /^content-type: text\/html/im],
    ['/config.json', /^content-type: application\/json/im],
    ['/pkg/package.json', /^content-type: application\/json/im],
    ['/pkg/tim_wasm_bg.wasm', /^content-type: application\/wasm/im],
  ]) {
    const reply = await rawGet(demo.url, target);
    assert.match(reply.head, /^HTTP\/1\.1 200/, `${target}: ${reply.head}`);
    assert.match(reply.head, type, `${target}: ${reply.head}`);
  }
});

test(
  'N=1: a second tab logging in as the same user kicks the first (multipleAccount), which returns to logged out',
  { timeout: 90_000 },
  () =>
    withTabs('n1', async (a, b) => {
      await setOnlineWebInstances(a, 1);
      const user = uniqueUser('kick');

      await login(a, user);
      await shot(a, 'n1-tab-a-logged-in');
      const before = Date.now();
      await login(b, user);
      const after = Date.now();

      await waitStatus(a, 'logged-out');
      await a.waitForSelector('#log li[data-event="SDK_NOT_READY"]', { timeout: STATE_TIMEOUT_MS });
      await shot(a, 'n1-tab-a-kicked-out');
      await shot(b, 'n1-tab-b-ready');

      const log = await events(a);
      const ready = log.findIndex((e) => e.event === 'SDK_READY');
      const kicked = log.findIndex((e) => e.event === 'KICKED_OUT');
      const notReady = log.findIndex((e, i) => i > kicked && e.event === 'SDK_NOT_READY');
      assert.ok(ready >= 0, `tab A logged SDK_READY: ${JSON.stringify(log)}`);
      assert.ok(kicked > ready, `tab A logged KICKED_OUT after SDK_READY: ${JSON.stringify(log)}`);
      // Beside `type`: who took the slot, tab B's login (platform web) and its time.
      const { time, ...kick } = log[kicked].data;
      assert.deepEqual(kick, { type: 'multipleAccount', platform: 'web' });
      assert.ok(time >= before && time <= after, `tab B's login time ${time} within ${before}..${after}`);
      assert.ok(notReady > kicked, `tab A logged SDK_NOT_READY after KICKED_OUT: ${JSON.stringify(log)}`);
      assert.equal(await text(a, '#state-ready'), 'false');
      assert.equal(await text(a, '#state-status'), 'Logged out');
      assert.match(await text(a, '#state-kick'), /^multipleAccount at /);
      const banner = await text(a, '#banner');
      assert.match(banner, /kicked out \(multipleAccount\)/);
      // The explanation, with the login's time as the page's clock shows it (tab A's local time).
      const shown = await a.evaluate((t) => {
        const d = new Date(t);
        const pad = (n, w = 2) => String(n).padStart(w, '0');
        return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
      }, time);
      assert.ok(
        banner.includes(`signed out because this account signed in on a web page (web) at ${shown}`),
        banner,
      );
      // The account's recent kicks, from the admin API: this kick, by a web login.
      await a.waitForSelector('#kicks li[data-type="multipleAccount"][data-by-platform="web"]', {
        timeout: STATE_TIMEOUT_MS,
      });
      assert.match(await text(a, '#kicks li'), /multipleAccount · by web [0-9a-f]{8}$/);
      await shot(a, 'n1-tab-a-kick-explained');

      assert.equal(await status(b), 'ready');
      assert.equal(await text(b, '#state-user'), user);
      assert.deepEqual(await eventNames(b, 'KICKED_OUT'), []);
    }),
);

test(
  'N=2: both tabs stay ready; logging out in one leaves the other ready',
  { timeout: 90_000 },
  () =>
    withTabs('n2', async (a, b) => {
      await setOnlineWebInstances(a, 2);
      const user = uniqueUser('both');

      await login(a, user);
      await login(b, user);
      await a.waitForTimeout(QUIET_MS);
      await shot(a, 'n2-tab-a-still-ready');
      await shot(b, 'n2-tab-b-ready');
      for (const [name, page] of [['A', a], ['B', b]]) {
        assert.equal(await status(page), 'ready', `tab ${name} is ready`);
        assert.equal(await text(page, '#state-ready'), 'true');
        assert.equal(await text(page, '#state-user'), user);
        assert.deepEqual(await eventNames(page, 'KICKED_OUT'), [], `tab ${name} was not kicked`);
      }

      await b.click('#logout');
      await waitStatus(b, 'logged-out');
      await b.waitForSelector('#log li[data-event="logout()"]', { timeout: STATE_TIMEOUT_MS });
      const logoutReply = await b.$eval('#log li[data-event="logout()"]', (li) => JSON.parse(li.dataset.data));
      assert.deepEqual(logoutReply, { code: 0, data: {} });
      assert.deepEqual(await eventNames(b, 'SDK_NOT_READY'), ['SDK_NOT_READY']);
      assert.equal(await text(b, '#state-user'), '—');

      await a.waitForTimeout(QUIET_MS);
      await shot(b, 'n2-tab-b-logged-out');
      await shot(a, 'n2-tab-a-ready-after-b-logout');
      assert.equal(await status(a), 'ready');
      assert.equal(await text(a, '#state-ready'), 'true');
      assert.deepEqual(await eventNames(a, 'SDK_NOT_READY'), [], 'tab A saw no SDK_NOT_READY');
    }),
);

test(
  'REST kick: the admin call kicks every instance of the user (REST_API_Kick), then SDK_NOT_READY',
  { timeout: 90_000 },
  () =>
    withTabs('rest', async (a, b) => {
      const user = uniqueUser('rest');
      await login(a, user);
      await b.fill('#user-id', user);
      await b.click('#rest-kick');
      await b.waitForSelector('#log li[data-event="REST kick"]', { timeout: STATE_TIMEOUT_MS });
      const tone = await b.getAttribute('#log li[data-event="REST kick"]', 'data-tone');
      assert.equal(tone, 'call', 'the kick call succeeded');

      await waitStatus(a, 'logged-out');
      await a.waitForSelector('#log li[data-event="SDK_NOT_READY"]', { timeout: STATE_TIMEOUT_MS });
      await shot(a, 'rest-tab-a-kicked-by-admin');
      const log = await events(a);
      const kicked = log.findIndex((e) => e.event === 'KICKED_OUT');
      assert.ok(kicked >= 0, `tab A logged KICKED_OUT: ${JSON.stringify(log)}`);
      assert.deepEqual(log[kicked].data, { type: 'REST_API_Kick' });
      assert.ok(log.findIndex((e, i) => i > kicked && e.event === 'SDK_NOT_READY') > kicked);
      assert.match(await text(a, '#banner'), /kicked out \(REST_API_Kick\)/);
    }),
);

test(
  "the page's offline/online events reach the SDK: 'disconnected' while reconnecting, then an early retry",
  async () => {
    // Every WebSocket the page makes goes through a wrapper that can refuse new connections (they are
    // sent to port 9, which Chromium refuses at once as unsafe: no traffic at all), so the SDK's backoff grows to its 8 s step; an 'online' event must
    // then reconnect at once instead of waiting it out.
    const page = await openTab('net', () => {
      const Native = window.WebSocket;
      window.__net = { refuse: false, opened: 0, sockets: [] };
      window.WebSocket = class extends Native {
        constructor(url, protocols) {
          super(window.__net.refuse ? 'ws://127.0.0.1:9/refused' : url, protocols);
          window.__net.opened += 1;
          window.__net.sockets.push(this);
        }
      };
    });
    try {
      await login(page, uniqueUser('net'));
      const opened = await page.evaluate(() => {
        window.__net.refuse = true;
        for (const socket of window.__net.sockets) socket.close();
        return window.__net.opened;
      });
      // Three refused attempts (after ~1 s, ~2 s, ~4 s): the next one is due 8 s ± 20% later.
      await page.waitForFunction((n) => window.__net.opened >= n + 3, opened, { timeout: 20_000 });
      await page.waitForTimeout(300);
      assert.equal(await status(page), 'ready', 'a silent reconnect keeps the ready state');

      await page.evaluate(() => window.dispatchEvent(new Event('offline')));
      await page.waitForSelector('#state-net[data-net="disconnected"]', { timeout: STATE_TIMEOUT_MS });

      const sentOnline = Date.now();
      await page.evaluate(() => {
        window.__net.refuse = false;
        window.dispatchEvent(new Event('online'));
      });
      await page.waitForSelector('#state-net[data-net="connected"]', { timeout: STATE_TIMEOUT_MS });
      const took = Date.now() - sentOnline;
      assert.ok(took < 3_000, `reconnected ${took} ms after 'online' (the backoff alone would wait >= 6.4 s)`);
      await shot(page, 'net-reconnected-after-online');

      const log = await events(page);
      assert.deepEqual(log.filter((e) => e.event === 'SDK_NOT_READY'), [], 'no SDK_NOT_READY during the outage');
      const states = log.filter((e) => e.event === 'NET_STATE_CHANGE').map((e) => e.data.state);
      // The drop (connecting), 'offline' (disconnected), 'online' starts an attempt (connecting), it succeeds.
      const tail = ['connecting', 'disconnected', 'connecting', 'connected'];
      assert.deepEqual(states.slice(-4), tail, JSON.stringify(states));
    } finally {
      await page.close();
    }
  },
);

// ---- helpers ----------------------------------------------------------------------------------------

/** The demo under test: TIM_DEMO_URL, or `cargo xtask demo --no-build --port 0` started here. */
test(
  'chat between tabs: createTextMessage + sendMessage in one, MESSAGE_RECEIVED in the other (same ID); the instance list',
  { timeout: 90_000 },
  () =>
    withTabs('chat', async (a, b) => {
      await setOnlineWebInstances(a, 2);
      const [alice, bob] = [uniqueUser('chat-a'), uniqueUser('chat-b')];
      await login(a, alice);
      await login(b, bob);
      await a.waitForSelector('#instances li[data-platform="web"]', { timeout: STATE_TIMEOUT_MS });
      assert.equal(await a.locator('#instances li').count(), 1, 'one live instance of alice');
      assert.match(await text(a, '#instances li'), /^web · since \d\d:\d\d:\d\d/);

      await a.fill('#chat-to', bob);
      await a.fill('#chat-text', 'hello from tab A');
      await a.click('#chat-send');
      const sent = await a.waitForSelector('#chat-log li[data-flow="out"][data-status="success"]', { timeout: STATE_TIMEOUT_MS });
      const got = await b.waitForSelector(`#chat-log li[data-flow="in"][data-from="${alice}"]`, { timeout: STATE_TIMEOUT_MS });
      assert.equal(await got.getAttribute('data-id'), await sent.getAttribute('data-id'), 'the same ID on both sides');
      assert.equal((await got.textContent()).includes('hello from tab A'), true);
      const received = (await events(b)).find((e) => e.event === 'MESSAGE_RECEIVED');
      assert.equal(received.data[0].conversationID, `C2C${alice}`);
      await shot(a, 'chat-tab-a-sent');
      await shot(b, 'chat-tab-b-received');
    }),
);

async function startDemo() {
  if (process.env.TIM_DEMO_URL) return { url: process.env.TIM_DEMO_URL, stop() {} };
  const child = spawn('cargo', ['xtask', 'demo', '--no-build', '--port', '0'], {
    cwd: repo,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no demo URL within 180 s; output:\n${seen}`)), 180_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const found = seen.match(/^\s*open (http:\/\/\S+)$/m);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cargo xtask demo exited (${code}) before printing its URL; output:\n${seen}`));
    });
  }).catch((e) => {
    stop();
    throw e;
  });
  child.stdout.resume();
  return { url, stop };
}

/** One GET with the target sent exactly as written; resolves {head, body} once the server closes. */
function rawGet(base, target) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      // write, not end: a half-closed connection may be dropped before the reply.
      socket.write(`GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    });
    const chunks = [];
    socket.setTimeout(STATE_TIMEOUT_MS, () => socket.destroy(new Error(`no reply to GET ${target}`)));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const reply = Buffer.concat(chunks).toString('latin1');
      const split = reply.indexOf('\r\n\r\n');
      resolve({ head: reply.slice(0, split), body: reply.slice(split + 4) });
    });
  });
}

async function openTab(label, initScript) {
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  page.on('pageerror', (e) => console.log(`[tab ${label}] page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[tab ${label}] console error: ${m.text()}`);
  });
  await page.goto(demo.url);
  await page.waitForSelector('body[data-phase="ready"]', { timeout: 30_000 });
  return page;
}

/** Runs a step with two fresh tabs; on failure, screenshots both tabs before rethrowing. */
async function withTabs(name, body) {
  const a = await openTab('A');
  const b = await openTab('B');
  try {
    await body(a, b);
  } catch (e) {
    await shot(a, `${name}-FAILED-tab-a`).catch(() => {});
    await shot(b, `${name}-FAILED-tab-b`).catch(() => {});
    throw e;
  } finally {
    await a.close();
    await b.close();
  }
}

async function login(page, user) {
  await page.fill('#user-id', user);
  await page.click('#login');
  await waitStatus(page, 'ready');
}

async function setOnlineWebInstances(page, n) {
  const before = await page.locator('#log li[data-event="set_app_config"]').count();
  await page.fill('#owi-input', String(n));
  await page.click('#owi-apply');
  await page.waitForFunction(
    (count) => document.querySelectorAll('#log li[data-event="set_app_config"]').length > count,
    before,
    { timeout: STATE_TIMEOUT_MS },
  );
  const last = await page.$$eval('#log li[data-event="set_app_config"]', (lis) => lis.at(-1).dataset.data);
  assert.deepEqual(JSON.parse(last), { OnlineWebInstances: n }, 'the admin call succeeded');
  assert.equal(await text(page, '#owi-current'), String(n));
}

async function waitStatus(page, wanted) {
  await page.waitForSelector(`#state-status[data-status="${wanted}"]`, { timeout: STATE_TIMEOUT_MS });
}

async function status(page) {
  return page.getAttribute('#state-status', 'data-status');
}

async function text(page, selector) {
  return (await page.textContent(selector)).trim();
}

/** The SDK events of a tab's log, oldest first, with their data. */
async function events(page) {
  return page.$$eval('#log li[data-kind="event"]', (lis) =>
    lis
      .sort((x, y) => Number(x.dataset.seq) - Number(y.dataset.seq))
      .map((li) => ({ event: li.dataset.event, data: li.dataset.data ? JSON.parse(li.dataset.data) : undefined })),
  );
}

async function eventNames(page, name) {
  return (await events(page)).filter((e) => e.event === name).map((e) => e.event);
}

async function shot(page, name) {
  shotNumber += 1;
  const file = path.join(shots, `${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
}

function uniqueUser(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
