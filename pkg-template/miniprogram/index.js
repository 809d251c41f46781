/**
 * tim-wasm for mini programs (WeChat `wx`, QQ `qq`, ByteDance `tt`, Baidu `swan`, Alipay `my`).
 *
 * WeChat's "Tools → Build npm" copies this folder to `miniprogram_npm/tim-wasm/`. Usage:
 *
 *     const TIM = require('tim-wasm');
 *     await TIM.init();                       // once, before TIM.create: loads the wasm
 *     const tim = TIM.create({ SDKAppID, serverUrl: 'wss://im.example.com/ws' });
 *
 * Written in ES5 syntax with CommonJS modules, which every mini-program compiler accepts.
 */
'use strict';

var runtime = require('./runtime.js');
var codec = require('./text-codec.js');
var socket = require('./socket.js');
var network = require('./network.js');

// Before the glue: it creates a TextDecoder and a TextEncoder as it loads.
codec.install(runtime.globalObject() || {});

var glue = require('./tim_wasm_glue.js');

/** Where "Build npm" puts the wasm inside the mini-program package. */
var DEFAULT_WASM_PATH = '/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm';
/** `NOT_INITIALIZED` of the error table (crates/tim-protocol codes.rs): `TIM.create` before `TIM.init()`. */
var NOT_INITIALIZED = 8006;

var state = { loading: null, sdk: null, runtime: null, instances: [] };

function notInitialized() {
  var err = new Error('The SDK is not initialised: await TIM.init() before TIM.create() in a mini program.');
  err.name = 'TimError';
  err.code = NOT_INITIALIZED;
  err.codeName = 'NOT_INITIALIZED';
  err.data = {};
  return err;
}

/** The SDK's `TIM` class, or the 8006 error before `TIM.init()` has finished. */
function sdk() {
  if (!state.sdk) throw notInitialized();
  return state.sdk;
}

/** The exported `TIM`: `init`, then `create`, `EVENT`, `TYPES`, `VERSION` of the SDK. */
var TIM = {
  /**
   * Loads and starts the wasm; resolves once `TIM.create` may be called. Options (all optional):
   * `wasmPath` (a path inside the mini-program package, `.wasm` or `.wasm.br`; default
   * `/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm`), `wasmLoader` (an object with `instantiate(path,
   * imports)`; default `WXWebAssembly`). Idempotent: later calls return the same Promise; after a failure
   * the next call tries again.
   */
  init: function (options) {
    if (state.loading) return state.loading;
    var opts = options || {};
    var loading = new Promise(function (resolve) {
      var found = runtime.detect();
      if (!found) {
        throw new Error('tim-wasm/miniprogram: no mini-program runtime found (none of qq, tt, swan, my, wx)');
      }
      var loader = opts.wasmLoader || runtime.wasmLoader();
      if (!loader || typeof loader.instantiate !== 'function') {
        throw new Error('tim-wasm/miniprogram: this runtime has no WXWebAssembly; pass TIM.init({wasmLoader})');
      }
      var wasmPath = opts.wasmPath || DEFAULT_WASM_PATH;
      resolve(
        Promise.resolve(loader.instantiate(wasmPath, glue.__wbg_get_imports())).then(function (result) {
          start(found, result && result.instance ? result.instance : result);
        })
      );
    });
    state.loading = loading;
    loading.catch(function () {
      if (state.loading === loading) state.loading = null;
    });
    return loading;
  },

  /**
   * `TIM.create(options)` of the SDK. Sockets go through the runtime's `connectSocket`, and the server
   * is told the platform (`wx`, `qq`, `tt`, `swan` or `my`). Throws 8006 before `TIM.init()` resolved.
   */
  create: function (options) {
    var tim = sdk().create(options);
    if (tim && state.instances.indexOf(tim) < 0) {
      state.instances.push(tim);
      tim.on(state.sdk.EVENT.SDK_DESTROY, function () {
        var at = state.instances.indexOf(tim);
        if (at >= 0) state.instances.splice(at, 1);
      });
    }
    return tim;
  },
};

Object.defineProperty(TIM, 'EVENT', { enumerable: true, get: function () { return sdk().EVENT; } });
Object.defineProperty(TIM, 'TYPES', { enumerable: true, get: function () { return sdk().TYPES; } });
Object.defineProperty(TIM, 'VERSION', { enumerable: true, get: function () { return sdk().VERSION; } });

/** Starts the instantiated module once and installs this runtime's socket, platform and network hints. */
function start(found, instance) {
  if (state.sdk) return;
  glue.__wbg_finish_init(instance.exports);
  glue.setRuntimeDefaults({ WebSocket: socket.socketClass(found.api), platform: found.name });
  state.runtime = found;
  state.sdk = glue.TIM;
  network.watchNetwork(found.api, broadcastHint);
}

/** Passes a runtime network hint to every live instance created here. */
function broadcastHint(hint) {
  var live = state.instances.slice();
  for (var i = 0; i < live.length; i++) live[i].networkHint(hint);
}

module.exports = TIM;
module.exports.default = TIM;
module.exports.TIM = TIM;
