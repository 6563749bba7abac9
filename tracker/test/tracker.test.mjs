// The tracker's own state in node (no DOM): consent, the stored queue, storage that fails. What a browser
// adds (beacons, Web Locks, impressions, the real gateway) is tested in Chromium: tests/tracker/.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { createTracker } from "../dist/rankfeed.mjs";

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

const requests = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  requests.push({ url, init });
  return new Response('{"accepted":1,"rejected":0}', { status: 202 });
};
afterEach(() => {
  requests.length = 0;
});
process.on("exit", () => (globalThis.fetch = realFetch));

const options = (storage) => ({
  endpoint: "http://gateway.test/v1/actions/batch",
  writeKey: "pk_test_0123456789abcdef",
  storage,
  flushIntervalMs: 10_000,
});

test("with consent required and not given, nothing is stored or sent", async () => {
  const storage = new MemoryStorage();
  const tracker = createTracker({ ...options(storage), consentRequired: true });
  tracker.search("Paris");
  assert.equal(tracker.click("q", { hotel_id: "H1", position: 1 }), undefined);
  await tracker.flush();
  assert.equal(storage.items.size, 0);
  assert.equal(requests.length, 0);
  tracker.consent(true);
  const id = tracker.click("q", { hotel_id: "H1", position: 1 });
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.ok([...storage.items.keys()].some((key) => key.startsWith("rankfeed:q:")), "queued in localStorage");
  tracker.consent(false);
  assert.equal([...storage.items.keys()].filter((key) => key !== "rankfeed:tab").length, 0, "withdrawn: all gone");
});

test("events carry the user's consent once the consent hook gave it, and none before", () => {
  const events = [];
  const tracker = createTracker({ ...options(new MemoryStorage()), onEvent: (event) => events.push(event) });
  tracker.search("Paris");
  tracker.consent(true);
  tracker.search("Rome");
  assert.deepEqual(events.map((event) => event.consent), [undefined, "granted"]);
});

test("events are batched with their ids, the write key and sent_at in a text/plain envelope", async () => {
  const ids = [];
  const tracker = createTracker({ ...options(new MemoryStorage()), onEvent: (event) => ids.push(event.event_id) });
  const searchId = tracker.search("Paris");
  tracker.click(searchId, { hotel_id: "H2", position: 2, price: 120 });
  await tracker.flush();
  assert.equal(requests.length, 1);
  const { init } = requests[0];
  assert.equal(init.headers["Content-Type"], "text/plain");
  assert.equal(init.credentials, "omit");
  const body = JSON.parse(init.body);
  assert.equal(body.write_key, "pk_test_0123456789abcdef");
  assert.equal(typeof body.sent_at, "number");
  assert.deepEqual(body.events.map((event) => event.event_id), ids);
  assert.equal(body.events[0].search_id, searchId);
  assert.equal(body.events[1].search_id, searchId);
  assert.equal(new Set(body.events.map((event) => event.session_id)).size, 1);
});

test("storage that throws degrades to memory without breaking the page", async () => {
  const broken = {
    getItem() {
      throw new DOMException("blocked", "SecurityError");
    },
    setItem() {
      throw new DOMException("full", "QuotaExceededError");
    },
    removeItem() {},
  };
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.join(" "));
  try {
    const tracker = createTracker(options(broken));
    const id = tracker.back();
    await tracker.flush();
    assert.deepEqual(JSON.parse(requests[0].init.body).events.map((event) => event.event_id), [id]);
    assert.ok(warnings.some((line) => line.includes("kept in memory")));
  } finally {
    console.warn = warn;
  }
});
