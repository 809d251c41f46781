// The mini-program js blocks of the docs (every js block of docs/miniprogram.md, and code that calls
// `TIM.init(` such as pkg-template/README.md's), as written, in the simulated mini-program runtime
// (./sim.cjs: a `wx` with no browser globals, WXWebAssembly, "Build npm" layout) against a real tim-server.
// The blocks of one doc run in order in one mini program, each as page code; `Page(...)` calls `onLoad`
// with the page object as `this`. The only edits: the server URL (wss://im.example.com/ws and
// ws://127.0.0.1:9000/ws become the test server's) and the official samples' placeholders ('your userID',
// 'your userSig'). A block that uses `tim` without making it gets the instance the earlier blocks made:
// `TIM.create` returns the same object for the same SDKAppID (for a Page, the test checks it is the
// page's `this.tim`). Each block must not throw or reject, must print no warning or error of its own, and,
// if it prints, must print within 10 s (a login whose Promise never settles fails here).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { JS_LANGS, allBlocks, isMiniProgram } from '../node/lib/doc-blocks.mjs';
import { startServer, userSig } from '../node/lib/server.mjs';

/** The app the samples name (SDKAppID 1400000000), with the README's development key. */
const APP = { sdkappid: 1400000000, key: '0123456789abcdef0123456789abcdef', n: 1 };
const SAMPLE_URLS = ['wss://im.example.com/ws', 'ws://127.0.0.1:9000/ws'];

const require = createRequire(import.meta.url);
const { createMiniProgram, layoutPackage } = require('./sim.cjs');
const { WebSocket } = require('../node_modules/ws');

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = process.env.TIM_WASM_PKG || path.join(here, '../../pkg');

const samples = allBlocks().filter((b) => !b.skip && JS_LANGS.includes(b.lang) && isMiniProgram(b));
const files = [...new Set(samples.map((b) => b.file))];

let server;
let root;
const sims = [];
before(async () => {
  const manifest = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  root = layoutPackage(path.join(pkgDir, manifest.miniprogram));
  server = await startServer({ apps: [APP] });
});
after(async () => {
  for (const sim of sims) sim.dispose();
  await server?.stop();
});

test('the docs have mini-program samples (docs/miniprogram.md, the package README)', () => {
  for (const file of ['docs/miniprogram.md', 'pkg-template/README.md']) assert.ok(files.includes(file), file);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const own = (logs) => logs.filter((l) => !(typeof l.args[0] === 'string' && l.args[0].startsWith('TIM ')));
const declares = (code, name) => new RegExp(`\\b(const|let|var)\\s+${name}\\b`).test(code);

for (const file of files) {
  test(`mini-program samples of ${file} run in order in the simulated runtime`, async () => {
    const sim = createMiniProgram(root, { WebSocket, platform: 'wx' });
    sims.push(sim);
    const pages = [];
    const Page = (page) => {
      pages.push(page);
      if (typeof page.onLoad === 'function') page.onLoad.call(page, {});
    };
    let TIM = null;
    let tim = null;
    for (const block of samples.filter((b) => b.file === file)) {
      let code = block.code
        .replaceAll("'your userID'", "'user1'")
        .replaceAll("'your userSig'", JSON.stringify(userSig(APP, 'user1')));
      for (const url of SAMPLE_URLS) code = code.replaceAll(url, server.url);
      const scope = { Page };
      if (!declares(code, 'TIM') && TIM) scope.TIM = TIM;
      if (!declares(code, 'tim') && /\btim\b/.test(code)) {
        assert.ok(tim, `${file}:${block.line} uses \`tim\`: an earlier block makes it`);
        scope.tim = tim;
      }
      const from = sim.logs.length;
      await sim.runPage(code, scope);
      // Let the block's Promises settle: until it printed (if it prints), then until nothing new for 300 ms.
      const prints = /\bconsole\.\w+\(/.test(code);
      const deadline = Date.now() + 10_000;
      while (prints && own(sim.logs.slice(from)).length === 0 && Date.now() < deadline) await sleep(50);
      for (let n = -1; n !== sim.logs.length && Date.now() < deadline; ) {
        n = sim.logs.length;
        await sleep(300);
      }
      const printed = own(sim.logs.slice(from));
      if (prints) assert.ok(printed.length > 0, `${file}:${block.line}: printed nothing within 10 s`);
      const bad = printed.filter((l) => l.level === 'warn' || l.level === 'error');
      assert.deepEqual(bad.map((l) => l.args.map(String).join(' ')), [], `${file}:${block.line} warned`);
      if (/TIM\.create\(/.test(code)) {
        // The instance the block made: TIM.create gives the same object for the same SDKAppID.
        TIM = await sim.runPage(`const TIM = require('tim-wasm'); await TIM.init(); return TIM;`);
        for (let i = 0; i < 100 && pages.length && !pages.at(-1).tim; i++) await sleep(50);
        tim = TIM.create({ SDKAppID: APP.sdkappid, serverUrl: server.url });
        if (pages.length) assert.equal(pages.at(-1).tim, tim, `${file}:${block.line}: the page's this.tim`);
      }
      // What a login or logout sample did, the server sees: a wx instance of user1, then none.
      if (tim && /\.login\(/.test(code)) {
        assert.equal(tim.isReady(), true, `${file}:${block.line}: ready after the login sample`);
        assert.deepEqual((await server.onlineInstances('user1')).map((i) => i.Platform), ['wx']);
      }
      if (tim && /\.logout\(/.test(code)) {
        assert.equal(tim.isReady(), false, `${file}:${block.line}: not ready after the logout sample`);
        assert.deepEqual(await server.onlineInstances('user1'), []);
      }
    }
    if (tim) await tim.destroy();
  });
}
