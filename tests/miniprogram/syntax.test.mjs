// The mini-program folder is in syntax every mini-program compiler accepts: our own files are ES5 with
// CommonJS; the generated glue may use ES2015 (classes, arrow functions, let/const) but nothing newer
// (no optional chaining, `??`, import/export statements, import.meta, private fields, top-level await).
// Checks the template always, and the built folder when there is one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const template = path.join(repoRoot, 'pkg-template', 'miniprogram');
const built = path.join(process.env.TIM_WASM_PKG || path.join(repoRoot, 'pkg'), 'miniprogram');
const GLUE = 'tim_wasm_glue.js';

/** The code of `source` with comments removed and string, template and regex literal contents blanked. */
export function codeOnly(source) {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 2;
      out += ' ';
    } else if (c === '/' && /(^|[(,=:[!&|?{};])\s*$/.test(out.slice(-40))) {
      // A regex literal (a `/` where an expression starts): blank its body, [...] classes included.
      out += '/';
      i++;
      let inClass = false;
      while (i < source.length && (inClass || source[i] !== '/')) {
        if (source[i] === '[') inClass = true;
        else if (source[i] === ']') inClass = false;
        i += source[i] === '\\' ? 2 : 1;
      }
      out += '/';
      i++;
    } else if (c === "'" || c === '"' || c === '`') {
      out += c;
      i++;
      while (i < source.length && source[i] !== c) i += source[i] === '\\' ? 2 : 1;
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const NEWER_THAN_ES2015 = [
  [/\?\.(?!\d)/, 'optional chaining'],
  [/\?\?/, 'nullish coalescing'],
  [/^\s*(import|export)\s/m, 'an ES module statement'],
  [/\bimport\s*\.\s*meta\b/, 'import.meta'],
  [/\bimport\s*\(/, 'dynamic import'],
  [/#[A-Za-z_$]/, 'a private field'],
  [/\bstatic\s*\{/, 'a static block'],
  [/\basync\b/, 'async functions'],
  [/\bawait\b/, 'await'],
  [/\*\*/, 'the exponent operator'],
  [/(?<![\w$])\d+_\d/, 'numeric separators'],
];
const NEWER_THAN_ES5 = [
  [/=>/, 'an arrow function'],
  [/\b(let|const)\s/, 'let/const'],
  [/\bclass\s/, 'a class'],
  [/`/, 'a template literal'],
  [/\.\.\./, 'spread/rest'],
];

function check(file, rules) {
  const code = codeOnly(readFileSync(file, 'utf8'));
  for (const [pattern, what] of rules) {
    const m = code.match(pattern);
    assert.equal(m, null, `${path.relative(repoRoot, file)} uses ${what}: ...${m && code.slice(Math.max(0, m.index - 40), m.index + 40)}...`);
  }
  assert.match(code, /module\.exports\s*=/, `${file} is a CommonJS module`);
}

test('the stripper keeps code and drops comments and string contents', () => {
  assert.equal(codeOnly("a // x => y\nb /* => */ 'c => d' \"`\" `e`"), "a \nb   '' \"\" ``");
  assert.equal(codeOnly('x = /a?.[/]b/.exec(s)?.[1] / 2;'), 'x = //.exec(s)?.[1] / 2;');
  const separators = NEWER_THAN_ES2015.find(([, what]) => what === 'numeric separators')[0];
  assert.match('n = 1_000;', separators);
  assert.doesNotMatch('let deferred1_0 = $2_1;', separators);
});

test('our mini-program files are ES5 CommonJS', () => {
  const files = readdirSync(template).filter((f) => f.endsWith('.js'));
  assert.ok(files.includes('index.js'));
  for (const f of files) check(path.join(template, f), [...NEWER_THAN_ES2015, ...NEWER_THAN_ES5]);
});

test('the built glue is CommonJS with nothing newer than ES2015', { skip: !existsSync(path.join(built, GLUE)) && 'no built package' }, () => {
  check(path.join(built, GLUE), NEWER_THAN_ES2015);
});
