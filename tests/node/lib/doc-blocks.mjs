// The fenced code blocks of the project's READMEs and docs, and how each kind is run.
//
// A block's language tag decides what runs it (KINDS). A block that truly cannot run carries a marker on the
// line before its opening fence: `<!-- sample: skip REASON -->`; the reason is printed with the skip. A block
// with a tag not in KINDS (or no tag) fails `tests/node/samples.test.mjs`, so a new sample in a doc is run
// or explicitly skipped, never silently ignored.

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The documents whose samples are run: both READMEs, the server's README and every docs/*.md. */
export const DOC_FILES = [
  'README.md',
  'pkg-template/README.md',
  'crates/tim-server/README.md',
  ...readdirSync(path.join(repoRoot, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** What runs each kind of block (the test that does, and how). */
export const KINDS = {
  js: 'tests/node/samples.test.mjs (Node, the package installed by name) or, for mini-program code, tests/miniprogram/samples.test.mjs',
  javascript: 'as js',
  mjs: 'as js',
  diff: 'the new side (context and + lines) runs as js',
  sh: 'each command line runs in order, through the command rules of tests/node/samples.test.mjs',
  toml: 'a tim-server config: the real server loads it (placeholders filled) and a user logs in',
  json: 'parsed (the whole block, or one value per line); right after a command, the command output has its shape; protocol frames are sent to / compared with a real server',
  http: 'an HTTP request tim-server sends: compared with the one a real server sends',
  text: 'prose (diagrams, event sequences): nothing to run',
  nginx: 'a load-balancer config: crates/tim-server/tests/proxies.rs runs it (Debian nginx, TLS lines dropped, hosts replaced) in front of three real nodes',
  haproxy: 'as nginx: crates/tim-server/tests/proxies.rs runs it with Debian HAProxy',
};

/**
 * The blocks of one markdown file: {file, line, lang, code, skip, heading} (`heading`: the title of the
 * section it is in); indented fences (inside lists) included.
 */
export function blocks(file) {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const found = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    if (/^#+\s/.test(lines[i])) heading = lines[i].replace(/^#+\s*/, '');
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]); j++) body.push(lines[j].slice(indent.length));
    let before = i - 1;
    while (before >= 0 && !lines[before].trim()) before--;
    const marker = before >= 0 ? /^\s*<!--\s*sample:\s*skip\b\s*(.*?)\s*-->\s*$/.exec(lines[before]) : null;
    found.push({ file, line: i + 1, lang, code: body.join('\n'), skip: marker ? marker[1] : null, heading });
    i = j;
  }
  return found;
}

/** Every block of every doc. */
export function allBlocks() {
  return DOC_FILES.flatMap(blocks);
}

/** A block of mini-program code: any js block of docs/miniprogram.md, and code that calls `TIM.init(`. */
export function isMiniProgram(block) {
  return block.file === 'docs/miniprogram.md' || /\bPage\(|TIM\.init\(/.test(block.code);
}

export const JS_LANGS = ['js', 'javascript', 'mjs'];

/**
 * The command lines of a sh block: `\`-continued lines joined, `# comments` cut off (an `or: CMD` comment
 * is an alternative command that runs too, as `alternative`). Each: {file, line, cmd, comment, alternative}.
 */
export function commandLines(block) {
  const out = [];
  const lines = block.code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + 1 + i;
    let text = lines[i];
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\\\s*$/, ' ') + lines[++i].trim();
    const hash = text.search(/(^|\s)#/);
    const cmd = (hash >= 0 ? text.slice(0, hash) : text).trim().replace(/\s+/g, ' ');
    const comment = hash >= 0 ? text.slice(hash).replace(/^\s*#\s*/, '').trim() : '';
    if (!cmd) continue;
    const alt = /\bor:\s*(.+)$/.exec(comment);
    out.push({ file: block.file, line, cmd, comment, alternative: alt ? alt[1].trim() : null });
  }
  return out;
}

/** The esbuild command line of the package README's esbuild section (tests/bundlers runs it as written). */
export function esbuildLine() {
  const lines = blocks('pkg-template/README.md')
    .filter((b) => b.lang === 'sh')
    .flatMap(commandLines)
    .filter((l) => l.cmd.startsWith('esbuild '));
  if (lines.length !== 1) throw new Error(`pkg-template/README.md: ${lines.length} esbuild lines, expected one`);
  return lines[0].cmd;
}
