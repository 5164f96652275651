/**
 * Counts per key with a one-minute sliding window (60 one-second buckets): totals since start and the count of
 * the last 60 seconds, for /stats.
 */
export type RateCounter = {
  add(key: string, n?: number): void;
  /** Per key: total since start and events in the last minute. */
  snapshot(): Map<string, { total: number; lastMinute: number }>;
};

/** Create a counter; `now` is injectable for tests. */
export function createRateCounter(now: () => number = Date.now): RateCounter {
  const totals = new Map<string, number>();
  const buckets = new Map<string, { second: number; count: number }[]>();
  return {
    add(key, n = 1) {
      totals.set(key, (totals.get(key) ?? 0) + n);
      const second = Math.floor(now() / 1000);
      const ring = buckets.get(key) ?? Array.from({ length: 60 }, () => ({ second: -1, count: 0 }));
      buckets.set(key, ring);
      const slot = ring[second % 60];
      if (slot.second !== second) {
        slot.second = second;
        slot.count = 0;
      }
      slot.count += n;
    },
    snapshot() {
      const second = Math.floor(now() / 1000);
      const out = new Map<string, { total: number; lastMinute: number }>();
      for (const [key, total] of totals) {
        const lastMinute = (buckets.get(key) ?? []).filter((b) => second - b.second < 60)
          .reduce((sum, b) => sum + b.count, 0);
        out.set(key, { total, lastMinute });
      }
      return out;
    },
  };
}
