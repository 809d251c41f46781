/**
 * A simulated WeChat-style mini-program runtime for tests.
 *
 * A fresh `vm` context holding only the JavaScript built-ins, minus what mini-program runtimes lack:
 * no `window`, `document`, `self`, `WebSocket`, `fetch`, `XMLHttpRequest`, `TextEncoder`, `TextDecoder`,
 * `WebAssembly`, `performance`, `queueMicrotask`, `crypto`, and, as on older iOS, `FinalizationRegistry`,
 * `WeakRef`, `BigInt`. It provides what they have:
 * - the platform API object (`wx` by default, or `qq`/`tt`/`swan`/`my`): `getSystemInfoSync`,
 *   `connectSocket` returning a SocketTask backed by a real WebSocket (the `ws` package),
 *   `onNetworkStatusChange`, `onAppShow`, `onAppHide` and their `off*`;
 * - `WXWebAssembly.instantiate(packagePath, imports)`, reading the file from the package root
 *   (a path, never bytes; `.wasm.br` is decompressed);
 * - `setTimeout`/`clearTimeout`/`setInterval`/`clearInterval` (numeric ids) and `console`;
 * - `require` for the mini program's own code: `'tim-wasm'` resolves to
 *   `miniprogram_npm/tim-wasm/index.js`, relative paths inside the package, nothing else. Each module runs
 *   in a wrapper that hides `window`, `document`, `self` and `WebSocket`, as WeChat's does.
 *
 * `layoutPackage(pkgMiniprogramDir)` lays out a package root as WeChat's "Tools → Build npm" does:
 * `<root>/miniprogram_npm/tim-wasm/` = a copy of the npm package's `miniprogram` folder.
 */
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');
const zlib = require('node:zlib');

/** Globals a mini-program runtime does not have; `createMiniProgram` removes each from the context. */
const ABSENT_GLOBALS = [
  'window',
  'document',
  'self',
  'WebSocket',
  'fetch',
  'XMLHttpRequest',
  'TextEncoder',
  'TextDecoder',
  'WebAssembly',
  'performance',
  'queueMicrotask',
  'crypto',
  // Not in older iOS JavaScriptCore (before iOS 14.5 / 14), which mini programs still meet.
  'FinalizationRegistry',
  'WeakRef',
  'BigInt',
];

/** Names the mini-program module wrapper hides (WeChat passes `undefined` for them). */
const WRAPPER_HIDDEN = ['window', 'document', 'self', 'WebSocket', 'XMLHttpRequest', 'navigator', 'location'];

/**
 * Copies `miniprogramDir` (the npm package's `miniprogram` folder) to `<new tmp root>/miniprogram_npm/tim-wasm/`;
 * the root is removed when the process exits.
 */
function layoutPackage(miniprogramDir) {
  if (!fs.existsSync(path.join(miniprogramDir, 'index.js'))) {
    throw new Error(`${miniprogramDir} has no index.js: run \`cargo xtask build\` first`);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tim-miniprogram-'));
  fs.cpSync(miniprogramDir, path.join(root, 'miniprogram_npm', 'tim-wasm'), { recursive: true });
  process.once('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

/**
 * A mini-program runtime over the package root `root`.
 * Options: `platform` ('wx' default; the API object's name), `WebSocket` (a WebSocket client class for the
 * host side, e.g. `require('ws')`), `quiet` (default true: console output is recorded, not printed).
 */
function createMiniProgram(root, options = {}) {
  const platform = options.platform || 'wx';
  const HostWebSocket = options.WebSocket;
  const quiet = options.quiet !== false;
  const context = vm.createContext({});
  vm.runInContext(ABSENT_GLOBALS.map((name) => `delete globalThis.${name};`).join('\n'), context);
  const realm = vm.runInContext('({ ArrayBuffer, Uint8Array, Error, Promise })', context);

  const logs = [];
  const consoleObject = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    consoleObject[level] = (...args) => {
      logs.push({ level, args });
      if (!quiet) console[level]('[miniprogram]', ...args);
    };
  }

  const timers = new Map();
  let nextTimer = 1;
  const setTimer = (repeat) => (fn, ms, ...args) => {
    const id = nextTimer++;
    const run = () => {
      if (!repeat) timers.delete(id);
      fn(...args);
    };
    timers.set(id, repeat ? setInterval(run, ms) : setTimeout(run, ms));
    return id;
  };
  const clearTimer = (id) => {
    const handle = timers.get(id);
    if (handle !== undefined) {
      clearTimeout(handle);
      clearInterval(handle);
      timers.delete(id);
    }
  };

  const sockets = [];
  const sent = [];
  const statusListeners = new Set();
  const showListeners = new Set();
  const hideListeners = new Set();

  /** The SocketTask of one `connectSocket` call, backed by a real WebSocket. */
  function connectSocket(request) {
    if (!request || typeof request.url !== 'string' || !/^wss?:\/\//.test(request.url)) {
      const res = { errMsg: 'connectSocket:fail invalid url' };
      setTimeout(() => {
        if (request && typeof request.fail === 'function') request.fail(res);
      }, 0);
      return undefined;
    }
    if (!HostWebSocket) throw new Error('sim: createMiniProgram needs options.WebSocket');
    const handlers = { open: [], message: [], close: [], error: [] };
    const ws = new HostWebSocket(request.url, request.protocols || []);
    const record = { url: request.url, ws, sent: [], closed: false };
    sockets.push(record);
    const fire = (kind, res) => handlers[kind].slice().forEach((fn) => fn(res));
    ws.on('open', () => fire('open', { header: {} }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const bytes = Buffer.isBuffer(data) ? data : Buffer.concat([].concat(data));
        const buffer = new realm.ArrayBuffer(bytes.length);
        new realm.Uint8Array(buffer).set(bytes);
        fire('message', { data: buffer });
      } else {
        fire('message', { data: data.toString('utf8') });
      }
    });
    ws.on('error', (e) => fire('error', { errMsg: `socket error: ${e.message}` }));
    ws.on('close', (code, reason) => {
      record.closed = true;
      fire('close', { code, reason: reason.toString('utf8') });
    });
    return {
      send({ data, success, fail }) {
        if (ws.readyState !== 1) {
          if (typeof fail === 'function') fail({ errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
          return;
        }
        const frame = typeof data === 'string' ? data : Buffer.from(new Uint8Array(data));
        record.sent.push(frame);
        sent.push(frame);
        ws.send(frame, (err) => {
          if (err && typeof fail === 'function') fail({ errMsg: `sendSocketMessage:fail ${err.message}` });
          else if (!err && typeof success === 'function') success({ errMsg: 'sendSocketMessage:ok' });
        });
      },
      close({ code, reason } = {}) {
        ws.close(code === undefined ? 1000 : code, reason === undefined ? '' : reason);
      },
      onOpen: (fn) => handlers.open.push(fn),
      onMessage: (fn) => handlers.message.push(fn),
      onClose: (fn) => handlers.close.push(fn),
      onError: (fn) => handlers.error.push(fn),
    };
  }

  const api = {
    getSystemInfoSync: () => ({
      brand: 'devtools',
      model: 'simulator',
      platform: 'devtools',
      system: 'Node.js vm',
      SDKVersion: '3.4.0',
    }),
    connectSocket,
    onNetworkStatusChange: (fn) => statusListeners.add(fn),
    offNetworkStatusChange: (fn) => statusListeners.delete(fn),
    onAppShow: (fn) => showListeners.add(fn),
    offAppShow: (fn) => showListeners.delete(fn),
    onAppHide: (fn) => hideListeners.add(fn),
    offAppHide: (fn) => hideListeners.delete(fn),
  };

  const WXWebAssembly = {
    instantiate(packagePath, imports) {
      return new realm.Promise((resolve, reject) => {
        if (typeof packagePath !== 'string' || !/\.wasm(\.br)?$/.test(packagePath)) {
          reject(new realm.Error('WXWebAssembly.instantiate: the first argument must be a .wasm or .wasm.br package path'));
          return;
        }
        const file = path.join(root, path.posix.normalize(`/${packagePath}`));
        fs.readFile(file, (err, bytes) => {
          if (err) {
            reject(new realm.Error(`WXWebAssembly.instantiate: no file ${packagePath} in the package`));
            return;
          }
          const raw = packagePath.endsWith('.br') ? zlib.brotliDecompressSync(bytes) : bytes;
          WebAssembly.instantiate(raw, imports).then(resolve, reject);
        });
      });
    },
  };

  Object.assign(context, {
    [platform]: api,
    WXWebAssembly,
    console: consoleObject,
    setTimeout: setTimer(false),
    clearTimeout: clearTimer,
    setInterval: setTimer(true),
    clearInterval: clearTimer,
  });

  const cache = new Map();
  /** Loads a module of the package root in the vm, CommonJS-style, behind WeChat's wrapper. */
  function load(file) {
    if (cache.has(file)) return cache.get(file).exports;
    const module = { exports: {} };
    cache.set(file, module);
    const source = fs.readFileSync(file, 'utf8');
    const wrapper = `(function (require, module, exports, ${WRAPPER_HIDDEN.join(', ')}) {${source}\n})`;
    const fn = vm.runInContext(wrapper, context, { filename: file });
    fn(makeRequire(path.dirname(file)), module, module.exports);
    return module.exports;
  }
  function makeRequire(dir) {
    return (id) => {
      if (id === 'tim-wasm') return load(path.join(root, 'miniprogram_npm', 'tim-wasm', 'index.js'));
      if (id.startsWith('./') || id.startsWith('../')) {
        const target = path.resolve(dir, id);
        const file = fs.existsSync(target) && fs.statSync(target).isFile() ? target : `${target}.js`;
        if (!file.startsWith(root + path.sep) || !fs.existsSync(file)) {
          throw new realm.Error(`module "${id}" is not defined`);
        }
        return load(file);
      }
      throw new realm.Error(`module "${id}" is not defined (only tim-wasm and relative paths are built)`);
    };
  }

  /**
   * Runs page code (an async function body) in the vm and returns its result. `require` is in scope, and
   * so is each entry of `scope` (e.g. `{ tim, TIM }` from an earlier page) under its key.
   */
  function runPage(source, scope = {}) {
    const names = Object.keys(scope);
    const fn = vm.runInContext(`(async function (require, ${names.join(', ')}) {${source}\n})`, context, {
      filename: 'page.js',
    });
    return fn(makeRequire(root), ...names.map((n) => scope[n]));
  }

  return {
    root,
    context,
    /** Built-ins of the vm's realm (`ArrayBuffer`, `Uint8Array`, `Error`, `Promise`). */
    realm,
    api,
    logs,
    sockets,
    sent,
    require: makeRequire(root),
    runPage,
    /** The runtime reports a network change (`onNetworkStatusChange`). */
    setNetwork(isConnected, networkType = isConnected ? 'wifi' : 'none') {
      for (const fn of [...statusListeners]) fn({ isConnected, networkType });
    },
    /** The app comes to the foreground (`onAppShow`). */
    show() {
      for (const fn of [...showListeners]) fn({ path: 'pages/index/index', scene: 1001 });
    },
    /** The app goes to the background (`onAppHide`). */
    hide() {
      for (const fn of [...hideListeners]) fn({});
    },
    /** Breaks every open socket without a closing handshake, as a lost network does. */
    dropSockets() {
      for (const s of sockets) if (!s.closed) s.ws.terminate();
    },
    /** Stops timers and sockets so the test process can exit. */
    dispose() {
      for (const id of [...timers.keys()]) clearTimer(id);
      for (const s of sockets) if (!s.closed) s.ws.terminate();
    },
  };
}

module.exports = { ABSENT_GLOBALS, createMiniProgram, layoutPackage };
