import assert from "node:assert/strict";
import type { JsMsg } from "@nats-io/jetstream";
import type { BatchItem } from "../db/write_batch.ts";
import { PayloadError, TransientError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import { type BatchDeps, createBatchProcessor, SPLIT_AFTER_DELIVERIES } from "./batch.ts";

/** What happened, in order: "write:a,b", "commit", "ack:a", "nak:a:200", "dlq:a". */
type Events = string[];

function message(events: Events, id: string, seq: number, deliveryCount = 1): JsMsg {
  return {
    seq,
    subject: `ns.ingest.Order.${id}`,
    info: { deliveryCount },
    ack: () => events.push(`ack:${id}`),
    nak: (delay?: number) => events.push(`nak:${id}:${delay}`),
  } as unknown as JsMsg;
}

function processor(events: Events, write: (ids: string[]) => void, overrides: Partial<BatchDeps> = {}) {
  const counters = { batches: 0, completed: 0, retried: 0, deadLettered: 0 };
  const process = createBatchProcessor({
    decode: (msg) => {
      const id = msg.subject.split(".")[3];
      if (id.startsWith("bad")) {
        throw new PayloadError("Order", [{ field: "", message: "body is not valid JSON" }]);
      }
      return {
        messageId: id,
        seq: msg.seq,
        attempts: 1,
        decoded: { entity: { name: "Order" } },
      } as BatchItem;
    },
    write: (items) => {
      const ids = items.map((i) => i.messageId);
      events.push(`write:${ids}`);
      write(ids);
      events.push("commit");
      return Promise.resolve();
    },
    saveRetrying: () => Promise.resolve(),
    deadLetter: (msg) => {
      events.push(`dlq:${msg.subject.split(".")[3]}`);
      msg.ack();
      return Promise.resolve(true);
    },
    entityOf: () => "Order",
    settings: { maxDeliver: 20, retryBudgetMs: 3_600_000, retryBaseMs: 200, retryMaxMs: 2_000 },
    counters,
    log: silentLogger,
    ...overrides,
  });
  return { process, counters };
}

const down = () => {
  throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
};

Deno.test("a redelivery in the same batch is never acked before its twin's rows are committed", async () => {
  const events: Events = [];
  const { process } = processor(events, down);
  await process([message(events, "a", 1), message(events, "a", 1, 2), message(events, "b", 2)]);
  assert.ok(!events.some((e) => e.startsWith("ack")), `nothing acked when the write fails: ${events}`);
  assert.deepEqual(events.filter((e) => e.startsWith("write")), ["write:a,b"], "written once");

  const ok: Events = [];
  await processor(ok, () => {}).process([message(ok, "a", 1), message(ok, "a", 1, 2)]);
  assert.deepEqual(ok, ["write:a", "commit", "ack:a", "ack:a"]);
});

Deno.test("twins of a retried message are all nak'ed, and the newest delivery decides (its attempt count)", async () => {
  const events: Events = [];
  const tries: number[] = [];
  const { process } = processor(events, down, {
    saveRetrying: (rows) => (tries.push(...rows.map((r) => r.attempts ?? 0)), Promise.resolve()),
    decode: (msg) =>
      ({
        messageId: msg.subject.split(".")[3],
        seq: msg.seq,
        attempts: msg.info.deliveryCount,
        decoded: { entity: { name: "Order" } },
      }) as BatchItem,
  });
  await process([message(events, "a", 1, 1), message(events, "a", 1, 2)]);
  assert.equal(events.filter((e) => e.startsWith("nak:a")).length, 2, `both deliveries nak'ed: ${events}`);
  assert.deepEqual(tries, [2], "the retry is recorded with the newest delivery's count");
});

Deno.test("a failed retrying-status write still naks with the retry delay and dead-letters nothing", async () => {
  const events: Events = [];
  const { process, counters } = processor(events, down, {
    saveRetrying: () => Promise.reject(Object.assign(new Error("closed"), { code: "CONNECTION_CLOSED" })),
  });
  await process([message(events, "a", 1)]);
  assert.equal(counters.deadLettered, 0);
  const [nak] = events.filter((e) => e.startsWith("nak"));
  assert.ok(Number(nak.split(":")[2]) >= 160, `nak'ed with the retry delay: ${nak}`);
});

Deno.test("a message that keeps failing transiently is written alone and the rest of its batch commits", async () => {
  const events: Events = [];
  const { process, counters } = processor(events, (ids) => {
    if (ids.includes("slow")) throw new TransientError("canceling statement due to statement timeout");
  });
  const n = SPLIT_AFTER_DELIVERIES;
  await process([message(events, "a", 1, n), message(events, "slow", 2, n), message(events, "b", 3, 1)]);
  assert.equal(counters.completed, 2);
  assert.deepEqual(events.filter((e) => e.startsWith("ack")).sort(), ["ack:a", "ack:b"]);
  assert.deepEqual(events.filter((e) => e.startsWith("nak")).map((e) => e.split(":")[1]), ["slow"]);
});

Deno.test("while the database is away a batch of often-failed messages costs three writes, not one each", async () => {
  const events: Events = [];
  const { process, counters } = processor(events, down);
  const n = SPLIT_AFTER_DELIVERIES;
  await process(["a", "b", "c", "d"].map((id, i) => message(events, id, i + 1, n)));
  // The batch, then two probes that both fail: the cause is not one message.
  assert.deepEqual(events.filter((e) => e.startsWith("write")), ["write:a,b,c,d", "write:a", "write:b"]);
  assert.equal(counters.retried, 4);
  assert.equal(counters.deadLettered, 0);
});

Deno.test("a message that cannot be decoded is dead-lettered alone; its twin is acked after the DLQ entry", async () => {
  const events: Events = [];
  await processor(events, () => {}).process([
    message(events, "bad1", 1),
    message(events, "bad1", 1, 2),
    message(events, "a", 2),
  ]);
  assert.deepEqual(events, ["dlq:bad1", "ack:bad1", "ack:bad1", "write:a", "commit", "ack:a"]);
});

/** A schema hold for tests: `held` lists the held entities; reports are logged as events. */
function schemaHold(events: Events, held: Set<string>) {
  return {
    isHeld: (entity: string) => held.has(entity),
    reason: () => "column value is gone",
    isMismatch: (error: unknown) => (error as { code?: string }).code === "42703",
    report: (entity: string) => {
      events.push(`held:${entity}`);
      held.add(entity);
    },
    holdMs: 5_000,
  };
}

/** Messages whose id starts with "c" are Customers, the rest Orders. */
const byPrefix = (msg: JsMsg) => {
  const id = msg.subject.split(".")[3];
  return {
    messageId: id,
    seq: msg.seq,
    attempts: msg.info.deliveryCount,
    decoded: { entity: { name: id.startsWith("c") ? "Customer" : "Order" } },
  } as BatchItem;
};

Deno.test("a schema error holds only its entity: nak'ed with the hold delay, not dead-lettered; others commit", async () => {
  const events: Events = [];
  const saved: { id: string; held?: boolean }[] = [];
  const { process, counters } = processor(events, (ids) => {
    if (ids.some((id) => !id.startsWith("c"))) {
      throw Object.assign(new Error(`column "value" does not exist`), { code: "42703" });
    }
  }, {
    decode: byPrefix,
    schema: schemaHold(events, new Set()),
    saveRetrying: (
      rows,
    ) => (saved.push(...rows.map((r) => ({ id: r.messageId, held: r.held }))), Promise.resolve()),
  });
  await process([message(events, "a", 1), message(events, "c1", 2), message(events, "b", 3)]);
  assert.equal(counters.deadLettered, 0);
  assert.equal(counters.retried, 0, "a hold is not a retry");
  assert.deepEqual(events.filter((e) => e.startsWith("ack")), ["ack:c1"]);
  assert.deepEqual(events.filter((e) => e.startsWith("nak")).sort(), ["nak:a:5000", "nak:b:5000"]);
  assert.ok(events.includes("held:Order"));
  assert.deepEqual(saved, [{ id: "a", held: true }, { id: "b", held: true }]);
});

Deno.test("messages of a held entity are nak'ed without a write, and their held status is recorded once", async () => {
  const events: Events = [];
  let saves = 0;
  const { process } = processor(events, () => {}, {
    decode: byPrefix,
    schema: schemaHold(events, new Set(["Order"])),
    saveRetrying: () => (saves++, Promise.resolve()),
  });
  await process([message(events, "a", 1), message(events, "c1", 2)]);
  await process([message(events, "a", 1, 2)]);
  assert.deepEqual(events.filter((e) => e.startsWith("write")), ["write:c1"]);
  assert.deepEqual(events.filter((e) => e.startsWith("nak")), ["nak:a:5000", "nak:a:5000"]);
  assert.equal(saves, 1, "the second delivery of a held message writes no status");
});

Deno.test("deliveries are not attempts: a message with few failures on record is not dead-lettered", async () => {
  const settings = { maxDeliver: 3, retryBudgetMs: 1_000, retryBaseMs: 200, retryMaxMs: 2_000 };
  const events: Events = [];
  const { process, counters } = processor(events, down, {
    settings,
    countFailures: (ids) => Promise.resolve(new Map(ids.map((id) => [id, id === "a" ? 1 : 10]))),
  });
  // Both have had 30 deliveries (say, held while a table was being fixed); only b has failed that often.
  await process([message(events, "a", 1, 30), message(events, "b", 2, 30)]);
  assert.equal(counters.deadLettered, 1);
  assert.deepEqual(events.filter((e) => e.startsWith("dlq")), ["dlq:b"]);
  assert.equal(events.filter((e) => e.startsWith("nak:a")).length, 1);
});
