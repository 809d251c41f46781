'use strict';
// tim-wasm for Node.js, CommonJS: `const TIM = require('tim-wasm')`. The wasm is compiled synchronously.
const fs = require('fs');
const path = require('path');
const glue = require('./tim_wasm_glue.cjs');
const { installNodeDefaults } = require('./node-runtime.cjs');

const bytes = fs.readFileSync(path.join(__dirname, 'tim_wasm_bg.wasm'));
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), glue.__wbg_get_imports());
glue.__wbg_finish_init(instance.exports);
installNodeDefaults(glue);
glue.publishStatics(glue.TIM); // Object.keys(TIM): create, EVENT, TYPES, VERSION, as in the official SDK

module.exports = glue.TIM;
module.exports.default = glue.TIM;
module.exports.TIM = glue.TIM;
