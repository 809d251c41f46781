// The entry esbuild bundles into the CommonJS glue (`cargo xtask build` copies it beside wasm-bindgen's
// `tim_wasm_bg.js`): the whole glue, plus the two functions a loader that is not an ES module needs.
import * as glue from './tim_wasm_bg.js';

export * from './tim_wasm_bg.js';

/** The import object to instantiate the wasm with (its one import module: xtask/src/import_names.rs). */
export function __wbg_get_imports() {
  return { g: glue };
}

/** Hands the instance's exports to the glue and runs the module's start function; call once. */
export function __wbg_finish_init(exports) {
  glue.__wbg_set_wasm(exports);
  if (typeof exports.__wbindgen_start === 'function') exports.__wbindgen_start();
}
