/**
 * How many publishes the NDJSON route keeps in flight at once, across all its requests. Per request alone, 16
 * concurrent batches of 1,000 lines had 16 × 256 publishes waiting for acks, each holding its line, its parsed
 * body, the client's request state and a timer long enough for the garbage collector to promote them: the API's
 * peak RSS. One window shared by all batches bounds that whatever the concurrency; JetStream's acks pipeline, and
 * one client reaches its publish rate with far fewer than 256 in flight (bench phase A, c=64).
 */

/** Slots for publishes in flight: `acquire()` waits for one (first come, first served), `release()` frees it. */
export type PublishWindow = { acquire(): Promise<void>; release(): void };

/** A window of `size` slots. */
export function createPublishWindow(size: number): PublishWindow {
  let free = size;
  const waiting: (() => void)[] = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      // A slot passes straight to the longest waiter, so a batch that arrives later cannot overtake it.
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}
