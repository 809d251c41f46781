// The bundler matrix: Vite, webpack 5, esbuild and Rollup each build one small page that imports the
// package BY NAME (installed from the packed pkg/) with the documented settings (pkg/README.md, one
// section per bundler; esbuild's is the README's CLI line, run as written); then one headless Chromium (Debian's, via playwright-core) opens the four pages,
// each of which logs in to a real tim-server and logs out. All four builds first, then one browser run.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

import { esbuildLine } from '../node/lib/doc-blocks.mjs';
import { scratchProject } from '../node/lib/scratch.mjs';
import { APPS, startServer, userSig } from '../node/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = path.join(here, '..', 'node_modules');
const load = (name) => import(pathToFileURL(path.join(tools, name)).href);
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** The page every bundler builds: logs in with what /config.json says and reports to window.result. */
const MAIN = `import TIM from 'tim-wasm';
const config = await (await fetch('/config.json')).json();
const tim = TIM.create({ SDKAppID: config.SDKAppID, serverUrl: config.serverUrl });
tim.setLogLevel(4);
try {
  const login = await tim.login({ userID: config.userID + '-' + document.title, userSig: config.userSigs[document.title] });
  const ready = tim.isReady();
  await tim.logout();
  window.result = { code: login.code, ready, keys: Object.keys(TIM) };
} catch (e) {
  window.result = { error: String(e && e.code) + ' ' + String(e && e.message) };
}
`;
const html = (name, script) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${name}</title></head><body><script type="module" src="${script}"></script></body></html>`;

const BUILDS = {
  async vite(dir) {
    const { build } = await load('vite/dist/node/index.js');
    writeFileSync(path.join(dir, 'index.html'), html('vite', './main.js'));
    await build({ root: dir, base: './', logLevel: 'silent', build: { outDir: path.join(dir, 'dist'), emptyOutDir: true } });
  },
  async webpack(dir) {
    const webpack = (await load('webpack/lib/index.js')).default;
    await new Promise((resolve, reject) =>
      webpack(
        { mode: 'production', context: dir, entry: './main.js', output: { path: path.join(dir, 'dist'), filename: 'main.js' } },
        (err, stats) => (err || stats.hasErrors() ? reject(err || new Error(stats.toString('errors-only'))) : resolve()),
      ),
    );
    writeFileSync(path.join(dir, 'dist', 'index.html'), html('webpack', './main.js'));
  },
  // The README's esbuild line as written, run by sh in an app folder laid out as it assumes
  // (src/main.js, node_modules/tim-wasm), with the esbuild CLI of tests/node_modules on PATH.
  async esbuild(dir) {
    mkdirSync(path.join(dir, 'src'), { recursive: true });
    copyFileSync(path.join(dir, 'main.js'), path.join(dir, 'src', 'main.js'));
    if (!existsSync(path.join(dir, 'node_modules'))) symlinkSync(path.join(scratchProject(), 'node_modules'), path.join(dir, 'node_modules'));
    execFileSync('sh', ['-c', esbuildLine()], { cwd: dir, stdio: 'pipe', env: { ...process.env, PATH: `${path.join(tools, '.bin')}:${process.env.PATH}` } });
    writeFileSync(path.join(dir, 'dist', 'index.html'), html('esbuild', './main.js'));
  },
  async rollup(dir) {
    const { rollup } = await load('rollup/dist/es/rollup.js');
    const { nodeResolve } = await load('@rollup/plugin-node-resolve/dist/es/index.js');
    const bundle = await rollup({ input: path.join(dir, 'main.js'), plugins: [nodeResolve({ browser: true })], logLevel: 'silent' });
    await bundle.write({ dir: path.join(dir, 'dist'), format: 'es' });
    copyFileSync(path.join(scratchProject(), 'node_modules/tim-wasm/tim_wasm_bg.wasm'), path.join(dir, 'dist', 'tim_wasm_bg.wasm'));
    writeFileSync(path.join(dir, 'dist', 'index.html'), html('rollup', './main.js'));
  },
};

let server;
let web;
let browser;
const dists = {};

before(async () => {
  server = await startServer({ apps: [APPS.two] });
  for (const name of Object.keys(BUILDS)) {
    const dir = path.join(scratchProject(), `bundler-${name}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'main.js'), MAIN);
    dists[name] = path.join(dir, 'dist');
  }
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (web ? web.close(r) : r()));
  await server?.stop();
});

for (const name of Object.keys(BUILDS)) {
  test(`${name} builds the page`, { timeout: 120_000 }, async () => {
    await BUILDS[name](path.dirname(dists[name]));
    assert.ok(existsSync(path.join(dists[name], 'index.html')));
  });
}

test('each built page logs in to a real tim-server in headless Chromium', { timeout: 120_000 }, async () => {
  const user = `bundled-${process.pid}`;
  const userSigs = Object.fromEntries(Object.keys(BUILDS).map((n) => [n, userSig(APPS.two, `${user}-${n}`)]));
  const config = JSON.stringify({ SDKAppID: APPS.two.sdkappid, serverUrl: server.url, userID: user, userSigs });
  web = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(config);
    }
    const [, name, ...rest] = url.pathname.split('/');
    const root = dists[name];
    const file = root && path.join(root, path.normalize(rest.join('/') || 'index.html'));
    if (!root || !file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => web.listen(0, '127.0.0.1', r));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  for (const name of Object.keys(BUILDS)) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${web.address().port}/${name}/`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 20_000 }).catch(() => {});
    const result = await page.evaluate(() => window.result);
    assert.ok(result, `${name}: the page never finished (errors: ${errors.join('; ')})`);
    assert.equal(result.error, undefined, `${name}: ${result.error}`);
    assert.equal(result.code, 0, name);
    assert.equal(result.ready, true, name);
    for (const key of ['create', 'EVENT', 'TYPES', 'VERSION']) assert.ok(result.keys.includes(key), `${name}: ${result.keys}`);
    await page.close();
  }
});
