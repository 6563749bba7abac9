// The tracker's pure decisions, run with `node --test` against the built ES module.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bounded, byteLength, chunk, classify, renewSession, retryAfterMs, retryDelay } from "../dist/rankfeed.mjs";

test("answers are sent, retried or dropped", () => {
  assert.deepEqual([200, 202].map(classify), ["sent", "sent"]);
  assert.deepEqual([0, 408, 429, 500, 503].map(classify), ["retry", "retry", "retry", "retry", "retry"]);
  assert.deepEqual([400, 401, 403, 413, 415, 422].map(classify), ["drop", "drop", "drop", "drop", "drop", "drop"]);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-11-30T10:00:00Z");
  assert.equal(retryAfterMs("3", now), 3000);
  assert.equal(retryAfterMs("Mon, 30 Nov 2026 10:00:05 GMT", now), 5000);
  assert.equal(retryAfterMs("Mon, 30 Nov 2026 09:00:00 GMT", now), 0, "a date in the past is no wait");
  assert.equal(retryAfterMs(null, now), 0);
  assert.equal(retryAfterMs("soon", now), 0);
});

test("the backoff doubles up to its cap, half of it jittered, never below Retry-After", () => {
  assert.equal(retryDelay(1, 0, 0, 1000, 60000), 500);
  assert.equal(retryDelay(1, 0, 1, 1000, 60000), 1000);
  assert.equal(retryDelay(4, 0, 0.5, 1000, 60000), 6000, "8 s: 4 s fixed + half of 4 s");
  assert.equal(retryDelay(20, 0, 1, 1000, 60000), 60000, "capped");
  assert.equal(retryDelay(1, 3000, 1, 1000, 60000), 3000, "Retry-After wins over a shorter backoff");
  assert.equal(retryDelay(7, 3000, 0, 1000, 60000), 30000, "and a longer backoff wins over Retry-After");
});

test("bodies are split by bytes and by count, in order", () => {
  const items = ["a".repeat(10), "b".repeat(10), "c".repeat(10), "d".repeat(10)];
  assert.deepEqual(chunk(items, 40, 10, 5), [items.slice(0, 3), items.slice(3)]);
  assert.deepEqual(chunk(items, 1000, 2, 5), [items.slice(0, 2), items.slice(2)]);
  assert.deepEqual(chunk(["x".repeat(100)], 40, 10, 5), [["x".repeat(100)]], "too large alone: alone");
  assert.deepEqual(chunk([], 40, 10, 5), []);
  assert.equal(byteLength("Zürich"), 7, "UTF-8 bytes, not characters");
  for (const group of chunk(Array.from({ length: 500 }, (_, i) => "é".repeat(i)), 60000, 500, 80)) {
    assert.ok(group.reduce((size, item) => size + byteLength(item) + 1, 80) <= 60000);
  }
});

test("a session lasts until 30 minutes without an action", () => {
  const gap = 30 * 60000;
  let ids = 0;
  const next = () => `s${++ids}`;
  const first = renewSession(null, 1000, gap, next);
  assert.deepEqual(first, { id: "s1", last: 1000 });
  assert.deepEqual(renewSession(first, 1000 + gap - 1, gap, next), { id: "s1", last: 1000 + gap - 1 });
  assert.deepEqual(renewSession(first, 1000 + gap, gap, next), { id: "s2", last: 1000 + gap }, "exactly the gap: new");
  assert.equal(renewSession(first, 1000 - 2 * gap, gap, next).id, "s3", "a clock set far back: new");
});

test("the queue keeps its newest entries", () => {
  assert.deepEqual(bounded([1, 2, 3, 4], 2), [3, 4]);
  assert.deepEqual(bounded([1], 2), [1]);
});
