// rankfeed's browser tracker: hotel-search actions to the gateway's batch endpoint. See tracker/README.md.
import { bounded, chunk, classify, renewSession, retryAfterMs, retryDelay, type Session } from "./pure";

export * from "./pure";

export interface Options {
  /** The gateway's batch endpoint, e.g. https://events.example.com/v1/actions/batch */
  endpoint: string;
  /** A publishable key (pk_…) bound to this page's origin. */
  writeKey: string;
  /** The (pseudonymous) user; by default a random id kept in localStorage. */
  userId?: string;
  device?: string;
  /** With true, nothing is sent or stored until consent(true). */
  consentRequired?: boolean;
  /** A batch is sent at this many events, or flushIntervalMs after its first one. */
  maxBatchEvents?: number;
  flushIntervalMs?: number;
  /** The offline queue keeps at most this many events; the oldest go first. */
  maxQueueEvents?: number;
  retryBaseMs?: number;
  maxRetryDelayMs?: number;
  /** A new session after this long without an action (the job's session gap). */
  sessionGapMs?: number;
  /** An impression is a result at least this share visible for at least this long. */
  impressionShare?: number;
  impressionMs?: number;
  /** null keeps the queue in memory only. */
  storage?: Storage | null;
  /** Called with every event tracked (for debugging and tests). */
  onEvent?: (event: TrackedEvent) => void;
}

export interface Hotel {
  hotel_id: string;
  position: number;
  price?: number;
  rating?: number;
}

export type TrackedEvent = { event_id: string; action_type: string } & Record<string, unknown>;

const PREFIX = "rankfeed:";
const QUEUE = PREFIX + "q:";
const TAB_LOCK = PREFIX + "tab:";
const ADOPT_LOCK = PREFIX + "adopt";
/** Below the 64 KB that all keepalive requests and beacons of a page share while in flight. */
export const BEACON_BYTES = 60_000;

const uuid = (): string =>
  crypto.randomUUID
    ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
        (+c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (+c / 4)))).toString(16),
      );

const warn = (message: string, detail?: unknown): void => console.warn("rankfeed: " + message, detail ?? "");

/** Storage that never throws: blocked or full, it turns itself off and the queue lives in memory. */
function safe(storage: Storage | null) {
  let on = !!storage;
  const guard = <T>(use: (s: Storage) => T, otherwise: T): T => {
    if (!on || !storage) return otherwise;
    try {
      return use(storage);
    } catch (error) {
      on = false;
      warn("storage is blocked or full; events are kept in memory", error);
      return otherwise;
    }
  };
  return {
    get: (key: string) => guard((s) => s.getItem(key), null),
    set: (key: string, value: string) => {
      guard((s) => s.setItem(key, value), undefined);
      // A copy left behind when storage filled up would be sent again by the next page.
      if (!on && storage) attempt(() => storage.removeItem(key));
    },
    del: (key: string) => guard((s) => s.removeItem(key), undefined),
    keys: () => guard((s) => Object.keys(s), [] as string[]),
  };
}

function attempt(action: () => unknown): void {
  try {
    action();
  } catch {
    // the host page must never see an error of the tracker
  }
}

function defaultStorage(): Storage | null {
  try {
    return localStorage;
  } catch {
    return null;
  }
}

export function createTracker(options: Options) {
  const o = {
    maxBatchEvents: 20,
    flushIntervalMs: 2000,
    maxQueueEvents: 500,
    retryBaseMs: 1000,
    maxRetryDelayMs: 60_000,
    sessionGapMs: 30 * 60_000,
    impressionShare: 0.5,
    impressionMs: 1000,
    device: "web",
    ...options,
  };
  const store = safe(o.storage === undefined ? defaultStorage() : o.storage);
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  let consented = !o.consentRequired;
  /** consent(true) was called: events say so (the contract's consent field), else they carry no consent. */
  let granted = false;
  let tab = "";
  let queue: TrackedEvent[] = [];
  const inflight = new Set<string>();
  let session: Session | null = null;
  let user = o.userId;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempts = 0;
  let retryAt = 0;
  let busy = false;
  let started = false;
  let release: (() => void) | undefined;
  /** Results seen and not reported yet: list, hotel, when. */
  let seen: [string, Hotel, number][] = [];
  const depth: Record<string, [number, number]> = {};
  const reported: Record<string, number> = {};

  const queueKey = () => QUEUE + tab;
  const persist = () => {
    if (tab && consented) queue.length ? store.set(queueKey(), JSON.stringify({ t: Date.now(), e: queue })) : store.del(queueKey());
  };
  const load = (key: string): TrackedEvent[] => {
    try {
      return JSON.parse(store.get(key) || "{}").e || [];
    } catch {
      return [];
    }
  };
  const merge = (events: TrackedEvent[]) => {
    const known = new Set(queue.map((event) => event.event_id));
    queue = bounded(queue.concat(events.filter((event) => !known.has(event.event_id))), o.maxQueueEvents);
  };
  const remove = (ids: Set<string>) => {
    queue = queue.filter((event) => !ids.has(event.event_id));
  };
  /** Under the adoption lock: take the queues of tabs that are gone (their tab lock is free), and our own. */
  const adopt = async (): Promise<void> => {
    if (!locks) return;
    await locks.request(ADOPT_LOCK, async () => {
      const held = new Set(((await locks.query()).held || []).map((lock) => lock.name));
      for (const key of store.keys()) {
        const id = key.startsWith(QUEUE) ? key.slice(QUEUE.length) : "";
        if (id && (id === tab || !held.has(TAB_LOCK + id))) {
          merge(load(key));
          if (id !== tab) store.del(key);
        }
      }
      persist();
    });
  };

  /** One id per tab, kept across reloads (sessionStorage) and held as a Web Lock while the page lives. */
  const claim = (id: string) => {
    if (!locks) {
      tab = id;
      merge(load(queueKey()));
      persist();
      return;
    }
    locks.request(TAB_LOCK + id, { ifAvailable: true }, (lock) => {
      if (!lock) return claim(uuid()); // a duplicated tab shares our sessionStorage: another id
      tab = id;
      attempt(() => sessionStorage.setItem(PREFIX + "tab", id));
      adopt().then(() => queue.length && !timer && schedule(o.flushIntervalMs));
      return new Promise<void>((resolve) => (release = resolve)); // held until the page is hidden for good
    });
  };

  const start = () => {
    if (started || !consented) return;
    started = true;
    let id: string | null = null;
    attempt(() => (id = sessionStorage.getItem(PREFIX + "tab")));
    claim(id || uuid());
  };

  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  };

  const envelope = (items: string[]) =>
    `{"write_key":${JSON.stringify(o.writeKey)},"sent_at":${Date.now()},"events":[${items.join(",")}]}`;
  const overhead = envelope([]).length + 8;

  /** Consecutive groups of the queue that are not in flight, each a request body's worth. */
  const groups = (maxBytes: number): TrackedEvent[][] => {
    const ready = queue.filter((event) => !inflight.has(event.event_id));
    const sizes = chunk(ready.map((event) => JSON.stringify(event)), maxBytes, o.maxBatchEvents, overhead);
    let at = 0;
    return sizes.map((group) => ready.slice(at, (at += group.length)));
  };

  const post = (events: TrackedEvent[], keepalive: boolean) =>
    fetch(o.endpoint, {
      method: "POST",
      // text/plain and no custom header: a "simple" request, no preflight
      headers: { "Content-Type": "text/plain" },
      body: envelope(events.map((event) => JSON.stringify(event))),
      keepalive,
      credentials: "omit",
    });

  const settle = (events: TrackedEvent[], status: number, retryAfter: number, answer: unknown) => {
    const ids = new Set(events.map((event) => event.event_id));
    ids.forEach((id) => inflight.delete(id));
    const outcome = classify(status);
    if (outcome === "retry") {
      retryAt = Date.now() + retryDelay(++attempts, retryAfter, Math.random(), o.retryBaseMs, o.maxRetryDelayMs);
      return schedule(retryAt - Date.now());
    }
    attempts = retryAt = 0;
    const rejected = (answer as { rejected?: number } | null)?.rejected;
    if (outcome === "drop" || rejected) warn(`the gateway refused ${rejected || events.length} event(s) (${status})`, answer);
    remove(ids);
    persist();
    if (queue.length) schedule(0);
  };

  async function flush(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    collect();
    if (busy || !consented || !tab) return;
    const wait = retryAt - Date.now();
    if (wait > 0) return schedule(wait); // nothing before Retry-After and the backoff
    busy = true;
    try {
      await adopt();
      const [events] = groups(BEACON_BYTES);
      if (!events) return;
      events.forEach((event) => inflight.add(event.event_id));
      let status = 0;
      let retryAfter = 0;
      let answer: unknown = null;
      try {
        const response = await post(events, true);
        status = response.status;
        retryAfter = retryAfterMs(response.headers.get("Retry-After"), Date.now());
        answer = await response.json().catch(() => null);
      } catch {
        // no answer: the gateway or the network is down
      }
      settle(events, status, retryAfter, answer);
    } finally {
      busy = false;
    }
  }

  /**
   * The page is being hidden or left: beacons for what waits, within the shared 64 KB budget. While the gateway
   * refuses (a backoff is running) the queue stays in localStorage for the next page instead: a beacon's
   * answer is never known.
   */
  const leave = () => {
    collect();
    if (!consented || retryAt > Date.now()) return;
    for (const events of groups(BEACON_BYTES)) {
      const ids = new Set(events.map((event) => event.event_id));
      const body = envelope(events.map((event) => JSON.stringify(event)));
      let queued = false;
      attempt(() => (queued = navigator.sendBeacon(o.endpoint, new Blob([body], { type: "text/plain" }))));
      if (queued) {
        remove(ids);
        continue;
      }
      // The beacon budget is spent: fetch with keepalive; the events stay queued until it answers.
      events.forEach((event) => inflight.add(event.event_id));
      post(events, true).then(
        (response) => settle(events, response.status, retryAfterMs(response.headers.get("Retry-After"), Date.now()), null),
        () => settle(events, 0, 0, null),
      );
    }
    persist();
  };

  function track(action_type: string, fields: Record<string, unknown> = {}): string | undefined {
    if (!consented) return;
    start();
    // What was seen before this action is reported before it (a click's next action decides a quick-back).
    if (action_type !== "impression" && action_type !== "scroll") collect();
    const now = Date.now();
    let stored: Session | null = session;
    attempt(() => (stored = JSON.parse(store.get(PREFIX + "s") || "null") || session));
    session = renewSession(stored, now, o.sessionGapMs, uuid);
    store.set(PREFIX + "s", JSON.stringify(session));
    if (!user) {
      user = store.get(PREFIX + "u") || uuid();
      store.set(PREFIX + "u", user);
    }
    const event: TrackedEvent = {
      event_id: uuid(),
      user_id: user,
      session_id: session.id,
      timestamp: now,
      device: o.device,
      ...(granted ? { consent: "granted" } : {}),
      ...fields,
      action_type,
    };
    merge([event]);
    persist();
    o.onEvent?.(event);
    if (queue.length - inflight.size >= o.maxBatchEvents) flush();
    else if (!timer) schedule(o.flushIntervalMs);
    return event.event_id;
  }

  /** Impressions seen since the last flush become one impression event per list, and a scroll to the deepest. */
  function collect(): void {
    const lists: Record<string, [Hotel[], number]> = {};
    for (const [searchId, hotel, at] of seen) {
      const list = (lists[searchId] = lists[searchId] || [[], 0]);
      list[0].push(hotel);
      list[1] = Math.max(list[1], at);
    }
    seen = [];
    for (const searchId in lists) {
      const [hotels, at] = lists[searchId];
      track("impression", { search_id: searchId, impressions: hotels.sort((a, b) => a.position - b.position), timestamp: at });
    }
    for (const searchId in depth) {
      const [deepest, at] = depth[searchId];
      if (deepest > (reported[searchId] || 0)) {
        track("scroll", { search_id: searchId, scroll_depth: (reported[searchId] = deepest), timestamp: at });
      }
    }
  }

  /**
   * Report results as impressions once each has been at least `impressionShare` visible for `impressionMs`
   * (IntersectionObserver), with the deepest position seen as the list's scroll depth. Returns a stop function.
   */
  function observe(searchId: string, elements: Iterable<Element>, describe: (element: Element) => Hotel | null) {
    const timers = new Map<Element, ReturnType<typeof setTimeout>>();
    const observer = new IntersectionObserver(
      (entries) => {
        for (const { target, intersectionRatio } of entries) {
          if (intersectionRatio >= o.impressionShare && consented) {
            if (timers.has(target)) continue;
            timers.set(
              target,
              setTimeout(() => {
                observer.unobserve(target);
                const hotel = describe(target);
                if (!hotel) return;
                const at = Date.now();
                seen.push([searchId, hotel, at]);
                if (hotel.position > (depth[searchId]?.[0] || 0)) depth[searchId] = [hotel.position, at];
                if (!timer) schedule(o.flushIntervalMs);
              }, o.impressionMs),
            );
          } else {
            clearTimeout(timers.get(target));
            timers.delete(target);
          }
        }
      },
      { threshold: [0, o.impressionShare] },
    );
    for (const element of elements) observer.observe(element);
    return () => {
      observer.disconnect();
      timers.forEach(clearTimeout);
    };
  }

  if (typeof addEventListener === "function") {
    addEventListener("visibilitychange", () => document.visibilityState === "hidden" && leave());
    // Leaving: what is left waits in storage for the next page of this tab, which takes the tab's lock over. A
    // page kept in the back-forward cache must not hold the lock (that would evict it), nor its memory queue.
    addEventListener("pagehide", () => {
      leave();
      queue = [];
      tab = "";
      started = false;
      release?.();
    });
    // Back to this page: restored from the back-forward cache (it takes its tab's lock and queue again), or
    // loaded again by the back button.
    addEventListener("pageshow", (event) => (event as PageTransitionEvent).persisted && track("back"));
    const navigation = performance.getEntriesByType?.("navigation")[0] as PerformanceNavigationTiming | undefined;
    if (navigation?.type === "back_forward") track("back");
  }
  start();

  const hotel = (searchId: string, h: Hotel) => ({ search_id: searchId, ...h });
  return {
    track,
    flush,
    observe,
    /** A submitted search; returns its search_id for the impressions, clicks and books of its results. */
    search(query: string, fields: Record<string, unknown> = {}): string {
      const searchId = uuid();
      track("search", { search_id: searchId, query, ...fields });
      return searchId;
    },
    impressions: (searchId: string, hotels: Hotel[]) => track("impression", { search_id: searchId, impressions: hotels }),
    click: (searchId: string, h: Hotel) => track("click", hotel(searchId, h)),
    book: (searchId: string, h: Hotel) => track("book", hotel(searchId, h)),
    scroll: (searchId: string, scrollDepth: number) => track("scroll", { search_id: searchId, scroll_depth: scrollDepth }),
    rate: (hotelId: string, rating: number) => track("rate", { hotel_id: hotelId, rating }),
    back: () => track("back"),
    /** Give or withdraw consent (from the site's consent banner): given, every event carries consent "granted";
     * withdrawn, tracking stops and the queue and everything stored are dropped. */
    consent(given: boolean): void {
      consented = granted = given;
      if (given) return start();
      clearTimeout(timer);
      timer = undefined;
      queue = [];
      seen = [];
      store.del(queueKey());
      store.del(PREFIX + "s");
      store.del(PREFIX + "u");
    },
  };
}

export type Tracker = ReturnType<typeof createTracker>;
