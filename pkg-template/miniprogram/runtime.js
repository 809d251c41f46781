/**
 * Which mini-program runtime is this? The vendor SDK's rule: the first of `qq`, `tt`, `swan`, `my`, `wx`
 * that exists as a global object with `getSystemInfoSync`. QQ, ByteDance and others also define `wx` as an
 * alias, hence the order: `wx` last.
 */
'use strict';

/** Platform names in detection order; each is also the `platform` the server records. */
var ORDER = ['qq', 'tt', 'swan', 'my', 'wx'];

/** The runtime's API objects, read with `typeof` so that a missing one is no ReferenceError. */
function globalApis() {
  /* global qq, tt, swan, my, wx */
  return {
    qq: typeof qq !== 'undefined' ? qq : undefined,
    tt: typeof tt !== 'undefined' ? tt : undefined,
    swan: typeof swan !== 'undefined' ? swan : undefined,
    my: typeof my !== 'undefined' ? my : undefined,
    wx: typeof wx !== 'undefined' ? wx : undefined,
  };
}

/**
 * `{name, api}` of the first runtime found in `candidates` (default: the globals), or `null` when
 * none is (a browser or Node).
 */
function detect(candidates) {
  var apis = candidates || globalApis();
  for (var i = 0; i < ORDER.length; i++) {
    var api = apis[ORDER[i]];
    if (api && typeof api.getSystemInfoSync === 'function') return { name: ORDER[i], api: api };
  }
  return null;
}

/**
 * The runtime's global object, where fallbacks are installed. Mini-program module wrappers hide `window`
 * and `self`, and `Function('return this')` is forbidden there, so only `globalThis` and `global` are tried.
 */
function globalObject() {
  if (typeof globalThis !== 'undefined') return globalThis;
  /* global global */
  if (typeof global !== 'undefined') return global;
  return null;
}

/**
 * The runtime's wasm loader: `WXWebAssembly` (WeChat; the only way to run wasm on iOS), whose
 * `instantiate(packagePath, imports)` takes a path inside the mini-program package. `null` when absent;
 * other runtimes pass theirs to `TIM.init({wasmLoader})`.
 */
function wasmLoader() {
  /* global WXWebAssembly */
  return typeof WXWebAssembly !== 'undefined' ? WXWebAssembly : null;
}

module.exports = {
  ORDER: ORDER,
  detect: detect,
  globalObject: globalObject,
  wasmLoader: wasmLoader,
};
