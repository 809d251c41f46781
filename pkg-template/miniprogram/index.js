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
/** `NOT_INITIALIZED` of the error table: `TIM.create` before `TIM.init()` finished. */
var NOT_INITIALIZED = 8006;

var state = { ready: false, loading: null, sdk: null, platform: null, instances: [] };

function notInitialized() {
  var err = new Error('The SDK is not initialised: await TIM.init() before TIM.create() in a mini program.');
  err.code = NOT_INITIALIZED;
  err.data = {};
  return err;
}

/** The exported `TIM`: `init` plus, once initialised, everything the SDK's `TIM` has. */
var TIM = {
  /**
   * Loads and starts the wasm. Options: `wasmPath` (a path inside the mini-program package, `.wasm` or
   * `.wasm.br`), `wasmLoader` (an object with `instantiate(path, imports)`; default `WXWebAssembly`),
   * `platform` and `api` (override runtime detection). Idempotent: later calls return the same Promise.
   */
  init: function (options) {
    if (state.loading) return state.loading;
    var opts = options || {};
    state.loading = new Promise(function (resolve, reject) {
      var detected = opts.api ? { name: opts.platform || 'wx', api: opts.api } : runtime.detect();
      if (!detected) {
        throw new Error('tim-wasm/miniprogram: no mini-program runtime found (none of qq, tt, swan, my, wx)');
      }
      var loader = opts.wasmLoader || runtime.wasmLoader();
      if (!loader || typeof loader.instantiate !== 'function') {
        throw new Error('tim-wasm/miniprogram: no WXWebAssembly here; pass TIM.init({wasmLoader})');
      }
      var wasmPath = opts.wasmPath || DEFAULT_WASM_PATH;
      Promise.resolve(loader.instantiate(wasmPath, glue.__wbg_get_imports()))
        .then(function (result) {
          var instance = result && result.instance ? result.instance : result;
          glue.__wbg_finish_init(instance.exports);
          state.platform = detected;
          state.sdk = glue.TIM;
          state.ready = true;
          network.watchNetwork(detected.api, broadcastHint);
          resolve();
        })
        .catch(reject);
    });
    // A failed init may be retried (e.g. with another wasmPath).
    state.loading.catch(function () {
      state.loading = null;
    });
    return state.loading;
  },

  /** `TIM.create(options)` of the SDK, with the runtime's socket and platform filled in. */
  create: function (options) {
    if (!state.ready) throw notInitialized();
    var opts = {};
    var given = options || {};
    for (var key in given) {
      if (Object.prototype.hasOwnProperty.call(given, key)) opts[key] = given[key];
    }
    if (!opts.WebSocket) opts.WebSocket = socket.socketClass(state.platform.api);
    if (!opts.platform) opts.platform = state.platform.name;
    var tim = state.sdk.create(opts);
    if (tim && state.instances.indexOf(tim) < 0) state.instances.push(tim);
    return tim;
  },
};

/** Passes a runtime network hint to every instance created here. */
function broadcastHint(hint) {
  for (var i = 0; i < state.instances.length; i++) {
    state.instances[i].networkHint(hint);
  }
}

module.exports = TIM;
