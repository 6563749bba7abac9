// The script a page loads stays within 5 KB minified and gzipped.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gzipSync } from "node:zlib";

export const LIMIT = 5 * 1024;

test(`dist/rankfeed.min.js is at most ${LIMIT} bytes minified + gzipped`, () => {
  const minified = readFileSync(new URL("../dist/rankfeed.min.js", import.meta.url));
  const gzipped = gzipSync(minified, { level: 9 }).length;
  console.log(`rankfeed.min.js: ${minified.length} bytes minified, ${gzipped} bytes gzipped`);
  assert.ok(gzipped <= LIMIT, `${gzipped} bytes gzipped, over the ${LIMIT}-byte budget`);
});
