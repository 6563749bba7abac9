// The tracker's pure decisions: no DOM, no clock, no randomness of their own, so `node --test` covers them.

/** What to do with a batch after an answer: sent (2xx), retry later (408, 429, 5xx, no answer), or drop. */
export type Outcome = "sent" | "retry" | "drop";

/** 0 stands for "no answer" (network error, gateway down). */
export function classify(status: number): Outcome {
  if (status >= 200 && status < 300) return "sent";
  if (status === 0 || status === 408 || status === 429 || status >= 500) return "retry";
  return "drop"; // other 4xx: the gateway said why, and a retry would get the same answer
}

/** Milliseconds a `Retry-After` value asks for (delta-seconds or an HTTP date), 0 when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number {
  if (!header) return 0;
  const seconds = Number(header);
  if (header.trim() !== "" && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

/**
 * How long to wait before retry number `attempt` (1, 2, …): exponential backoff from `baseMs`, capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so that many pages do not retry in step; never
 * less than the server's `Retry-After`.
 */
export function retryDelay(attempt: number, retryAfter: number, random: number, baseMs: number, maxMs: number): number {
  const backoff = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(retryAfter, backoff / 2 + (random * backoff) / 2);
}

/** UTF-8 length of a string, as it will travel. */
export function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * Consecutive groups of serialized events whose request bodies (`{"sent_at":…,"write_key":…,"events":[…]}`,
 * `overhead` bytes besides the events and their commas) stay within `maxBytes` and `maxCount`. An event too
 * large alone goes in a group of its own (the gateway answers for it).
 */
export function chunk(serialized: string[], maxBytes: number, maxCount: number, overhead: number): string[][] {
  const groups: string[][] = [];
  let group: string[] = [];
  let size = overhead;
  for (const item of serialized) {
    const length = byteLength(item) + 1;
    if (group.length && (size + length > maxBytes || group.length >= maxCount)) {
      groups.push(group);
      group = [];
      size = overhead;
    }
    group.push(item);
    size += length;
  }
  if (group.length) groups.push(group);
  return groups;
}

export interface Session {
  id: string;
  /** Epoch ms of the session's last action. */
  last: number;
}

/** The session an action at `now` belongs to: the same one within `gapMs` of its last action, else a new one. */
export function renewSession(current: Session | null, now: number, gapMs: number, newId: () => string): Session {
  if (current && now - current.last < gapMs && now >= current.last - gapMs) return { id: current.id, last: now };
  return { id: newId(), last: now };
}

/** A queue bounded to `max` entries: the oldest go first when it overflows. */
export function bounded<T>(queue: T[], max: number): T[] {
  return queue.length > max ? queue.slice(queue.length - max) : queue;
}

