// The code samples of the login doc (`tests/reference/login-web-and-mini-programs.txt`, a copy of the
// project's `shared/reference/` one), cut out verbatim so that tests run them as written.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC = readFileSync(path.join(repoRoot, 'tests/reference/login-web-and-mini-programs.txt'), 'utf8');

/** The copy is the file of `shared/reference/` when that sits beside the checkout (CI); else `null`. */
export function sharedDocDiffers() {
  const shared = path.join(process.env.TIM_SHARED_DIR || path.resolve(repoRoot, '../shared'), 'reference');
  let original;
  try {
    original = readFileSync(path.join(shared, 'login-web-and-mini-programs.txt'), 'utf8');
  } catch {
    return null;
  }
  return original !== DOC;
}

/** The code of a sample in the doc: from its first line to the end of its `.catch(...)` call, or to `last`. */
export function sample(first, last) {
  const start = DOC.indexOf(first);
  assert.ok(start >= 0, `sample starting with ${first} not in the doc`);
  if (last) return DOC.slice(start, DOC.indexOf(last, start) + last.length);
  const end = DOC.indexOf('\n});', DOC.indexOf('}).catch(', start));
  assert.ok(end > start);
  return DOC.slice(start, end + '\n});'.length);
}
