// The mini-program folder is in syntax every mini-program compiler accepts: our own files are ES5 with
// CommonJS; the generated glue may use ES2015 (classes, arrow functions, let/const) but nothing newer
// (no optional chaining, `??`, import/export statements, import.meta, private fields, top-level await).
// acorn parses each file as a script at that ecmaVersion: its parse failure is the finding.
// Checks the template always, and the built folder when there is one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as acorn from 'acorn';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const template = path.join(repoRoot, 'pkg-template', 'miniprogram');
const built = path.join(process.env.TIM_WASM_PKG || path.join(repoRoot, 'pkg'), 'miniprogram');
const GLUE = 'tim_wasm_glue.js';

/** The program of `source` parsed as a script at `ecmaVersion`, or the parse error (with its position). */
function parse(source, ecmaVersion) {
  try {
    return { program: acorn.parse(source, { ecmaVersion, sourceType: 'script', locations: true }) };
  } catch (error) {
    return { error };
  }
}

/** A snippet of each construct a rule is there for, with what it is called in a failure. */
const NEWER_THAN_ES2015 = [
  ['x = a?.b;', 'optional chaining'],
  ['x = /[a-z]+/.exec(s)?.[1];', 'optional chaining'],
  ['x = a ?? b;', 'nullish coalescing'],
  ["import x from 'y';", 'an ES module statement'],
  ['export const x = 1;', 'an ES module statement'],
  ['x = import.meta.url;', 'import.meta'],
  ["import('y');", 'dynamic import'],
  ['class A { #p = 1; }', 'a private field'],
  ['class A { static { x = 1; } }', 'a static block'],
  ['async function f() {}', 'async functions'],
  ['await x;', 'await'],
  ['x = 2 ** 3;', 'the exponent operator'],
  ['n = 1_000;', 'numeric separators'],
];
const NEWER_THAN_ES5 = [
  ['f = (a) => a;', 'an arrow function'],
  ['let a = 1;', 'let/const'],
  ['const a = 1;', 'let/const'],
  ['class A {}', 'a class'],
  ['s = `t`;', 'a template literal'],
  ['f(...a);', 'spread/rest'],
];

/** True when the program assigns `module.exports` (or a property of it) at its top level. */
function assignsModuleExports(program) {
  const isModuleExports = (node) =>
    node.type === 'MemberExpression' &&
    ((node.object.type === 'Identifier' && node.object.name === 'module' && node.property.name === 'exports') ||
      isModuleExports(node.object));
  return program.body.some(
    (s) => s.type === 'ExpressionStatement' && s.expression.type === 'AssignmentExpression' && isModuleExports(s.expression.left),
  );
}

function check(file, ecmaVersion) {
  const source = readFileSync(file, 'utf8');
  const { program, error } = parse(source, ecmaVersion);
  const where = path.relative(repoRoot, file);
  assert.equal(
    error,
    undefined,
    error && `${where} is not ES${ecmaVersion}: ${error.message}: ...${source.slice(Math.max(0, error.pos - 40), error.pos + 40)}...`,
  );
  assert.ok(assignsModuleExports(program), `${where} is a CommonJS module (assigns module.exports)`);
}

test('acorn refuses every construct newer than the ecmaVersion, and the snippets are real syntax', () => {
  for (const [snippet, what] of NEWER_THAN_ES2015) {
    assert.ok(parse(snippet, 2015).error, `${what} (${snippet}) is refused at ES2015`);
    const latest = acorn.parse(snippet, { ecmaVersion: 'latest', sourceType: 'module' });
    assert.ok(latest.body.length > 0, `${snippet} parses in a current ES module`);
  }
  for (const [snippet, what] of NEWER_THAN_ES5) {
    assert.ok(parse(snippet, 5).error, `${what} (${snippet}) is refused at ES5`);
    assert.equal(parse(snippet, 2015).error, undefined, `${what} (${snippet}) is allowed in the glue (ES2015)`);
  }
});

test('comments, strings and regex literals are not code; look-alikes are not findings', () => {
  // Newer syntax inside comments, strings and regex literals is no finding.
  assert.equal(parse("a; // x => y\nb = /* => */ 'c => d' + \"`\" + '?.';", 5).error, undefined);
  assert.equal(parse('x = /a?.[/]b/.exec(s)[1] / 2;', 5).error, undefined);
  assert.ok(parse('x = /a?.[/]b/.exec(s)?.[1] / 2;', 2015).error, 'the optional chaining after the regex is caught');
  // `?.` followed by a digit is a conditional with a decimal, not optional chaining.
  assert.equal(parse('x = a?.5:1;', 5).error, undefined);
  // Underscores in identifiers are not numeric separators.
  assert.ok(parse('n = 1_000;', 2015).error, 'numeric separators are caught');
  assert.equal(parse('let deferred1_0 = $2_1;', 2015).error, undefined);
  assert.equal(parse('var deferred1_0 = $2_1;', 5).error, undefined);
  // The CommonJS check reads the program, not the text.
  assert.equal(assignsModuleExports(parse("// module.exports = x\ns = 'module.exports = y';", 5).program), false);
  assert.equal(assignsModuleExports(parse('module.exports.TIM = TIM;', 5).program), true);
});

test('our mini-program files are ES5 CommonJS', () => {
  const files = readdirSync(template).filter((f) => f.endsWith('.js'));
  assert.ok(files.includes('index.js'));
  for (const f of files) check(path.join(template, f), 5);
});

test('the built glue is CommonJS with nothing newer than ES2015', { skip: !existsSync(path.join(built, GLUE)) && 'no built package' }, () => {
  check(path.join(built, GLUE), 2015);
});
