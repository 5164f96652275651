/**
 * The scenarios: each names its fault, what the system looks like (NATS nodes, flags), which messages it poisons
 * and what each must end as, and the bounds it holds the system to beyond the invariant (longest stall, settle
 * time, 503s). `fault` runs alongside the load; the load trickles on until it returns.
 */
import postgres from "postgres";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Load, Sent } from "./load.ts";
import { POISON_COMMENT } from "./load.ts";
import { waitFor } from "./services.ts";
import type { NomnomProcess, System } from "./system.ts";

/** What a fault sees: the system, the load, and `at(f)`, which waits until that share of the load is accepted. */
export type FaultContext = {
  system: System;
  load: Load;
  quick: boolean;
  /** Resolves once `fraction` of the scenario's messages were accepted (or the load ended). */
  at(fraction: number): Promise<void>;
  /** A line for the scenario's timeline (printed and written to the results). */
  event(what: string): void;
  /** Findings of the fault itself (a SIGTERM'd process that did not exit 0, a replay answered 500). */
  violation(what: string): void;
  /** Time during which the fault itself leaves nothing to make progress with; `maxStallMs` does not count it. */
  excuse(from: number, to: number): void;
};

export type Scenario = {
  name: string;
  /** What is done to the system, in a few words (the table's legend). */
  fault: string;
  natsNodes?: 1 | 3;
  flags?: string[];
  /** Before the load, once the system is ready. */
  prepare?(system: System): Promise<void>;
  poison?(n: number): boolean;
  /** After everything settled once (e.g. remove the cause, replay the DLQ); the system settles again. */
  afterSettle?(ctx: FaultContext): Promise<void>;
  expected?(s: Sent): "completed" | "dlq";
  inject(ctx: FaultContext): Promise<void>;
  /** Bounds beyond the invariant; the stall's without the excused time. */
  maxStallMs?: number;
  maxSettleMs?: number;
  /** The fault must make the API answer 503 (and never another 5xx). */
  expect503?: boolean;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A CHECK constraint that makes PostgreSQL refuse poison orders (23514, a permanent failure: DLQ at once). */
async function addPoisonCheck(system: System) {
  await system.sql.unsafe(`ALTER TABLE orders ADD CONSTRAINT chaos_poison
    CHECK (comment IS DISTINCT FROM '${POISON_COMMENT}')`);
}

/** SIGTERM a process under load: it must exit 0 (graceful), then it is started again. */
async function terminate(ctx: FaultContext, p: NomnomProcess) {
  const code = await p.signal("SIGTERM");
  ctx.event(`${p.name} SIGTERM → exit ${code}`);
  if (code !== 0) ctx.violation(`${p.name} exited ${code} after SIGTERM (expected 0: a graceful stop)`);
  await p.start();
}

/** The server names leading the ingest stream and the worker's consumer, asked of any node still up. */
async function leaders(system: System): Promise<{ stream: string; consumer: string; all: string[] }> {
  const up = system.nats.nodes.filter((n) => n.running()).map((n) => n.url);
  const nc = await connect({ servers: up, reconnect: false, timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    const stream = await jsm.streams.info(`${system.namespace}_ingest`);
    const consumer = await jsm.consumers.info(`${system.namespace}_ingest`, `${system.namespace}_worker`);
    return {
      stream: stream.cluster?.leader ?? "",
      consumer: consumer.cluster?.leader ?? "",
      all: system.nats.nodes.map((n) => n.name),
    };
  } finally {
    await nc.close();
  }
}

/** Kill -9 the node `pick` chooses, wait for new leaders among the others, start it again on its store. */
async function loseNode(
  ctx: FaultContext,
  role: string,
  pick: (l: { stream: string; consumer: string; all: string[] }) => string,
) {
  const before = await waitFor("stream and consumer leaders", () => leaders(ctx.system), 20_000);
  const name = pick(before);
  const node = ctx.system.nats.nodes.find((n) => n.name === name)!;
  const killedAt = Date.now();
  await node.kill("SIGKILL");
  ctx.event(
    `NATS ${name} (${role}; stream leader ${before.stream}, consumer leader ${before.consumer}) kill -9`,
  );
  const after = await waitFor("new leaders", async () => {
    const l = await leaders(ctx.system);
    return l.stream && l.consumer && l.stream !== name && l.consumer !== name ? l : undefined;
  }, 30_000).catch(() => undefined);
  ctx.event(
    after ? `new leaders: stream ${after.stream}, consumer ${after.consumer}` : "no new leaders in 30 s",
  );
  // Until the cluster has elected new leaders nothing can be consumed: the bound measures nomnom's recovery after.
  ctx.excuse(killedAt, Date.now());
  await sleep(ctx.quick ? 2000 : 4000);
  await node.start();
  ctx.event(`NATS ${name} restarted on its store`);
}

/** The nomnom backends' pids (every connection to the scenario's database but ours). */
async function terminateBackends(system: System): Promise<number> {
  const admin = postgres(system.pg.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = ${system.database} AND pid <> pg_backend_pid() AND application_name <> 'chaos'`;
    return rows.length;
  } finally {
    await admin.end();
  }
}

/** Replay what is in the DLQ for Order, `concurrent` requests at once; any 5xx but 503 is a violation. */
async function replayConcurrently(ctx: FaultContext, body: unknown, concurrent: number) {
  const answers = await Promise.all(Array.from({ length: concurrent }, async () => {
    const r = await fetch(`${ctx.system.url}/dlq/replay`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await r.json().catch(() => ({}));
    if (r.status >= 500 && r.status !== 503) ctx.violation(`POST /dlq/replay answered ${r.status}`);
    return `${r.status}:${json.replayed ?? "-"}`;
  }));
  return answers.join(" ");
}

export const SCENARIOS: Scenario[] = [
  {
    name: "worker-kill",
    fault: "kill -9 a worker mid-batch, start it again (twice in the full run)",
    async inject(ctx) {
      const rounds = ctx.quick ? 1 : 2;
      for (let i = 0; i < rounds; i++) {
        await ctx.at(0.25 + 0.35 * i);
        const worker = ctx.system.workers[i % 2];
        await worker.signal("SIGKILL");
        ctx.event(`${worker.name} kill -9`);
        await sleep(1000);
        await worker.start();
        ctx.event(`${worker.name} started again`);
      }
    },
  },
  {
    name: "sigterm",
    fault: "SIGTERM the API, then a worker with a full buffer of pulled messages; each started again",
    // A worker that stops gracefully hands back what it pulled but did not write, so it is redelivered at once
    // instead of after the ack wait: the load ends with that SIGTERM, and nothing may wait long after it.
    maxStallMs: 5_000,
    async inject(ctx) {
      await ctx.at(0.3);
      await terminate(ctx, ctx.system.api);
      await ctx.at(0.85);
      // Frozen under load, the worker's pull buffer fills (its socket holds what the server sent); the
      // SIGTERM comes as it thaws.
      const worker = ctx.system.workers[0];
      worker.pause();
      await sleep(2000);
      await terminate(ctx, worker);
    },
  },
  {
    name: "nats-kill",
    fault: "kill -9 nats-server, restart it on the same store (twice in the full run)",
    expect503: true,
    async inject(ctx) {
      const rounds = ctx.quick ? 1 : 2;
      for (let i = 0; i < rounds; i++) {
        await ctx.at(0.25 + 0.35 * i);
        const node = ctx.system.nats.nodes[0];
        await node.kill("SIGKILL");
        ctx.event("nats-server kill -9");
        await sleep(ctx.quick ? 2000 : 4000);
        await node.start();
        ctx.event("nats-server restarted on its store");
      }
    },
  },
  {
    name: "postgres",
    fault: "pg_terminate_backend on nomnom's sessions; restart -m immediate; stopped 20 s (quick: 5 s)",
    async inject(ctx) {
      await ctx.at(0.2);
      ctx.event(`pg_terminate_backend: ${await terminateBackends(ctx.system)} session(s)`);
      await ctx.at(0.4);
      // pg_ctl restart -m immediate: a crash (no checkpoint) and crash recovery at once.
      await ctx.system.pg.pause("immediate");
      await ctx.system.pg.resume();
      ctx.event("PostgreSQL restart -m immediate");
      await ctx.at(0.6);
      await ctx.system.pg.pause("fast");
      ctx.event("PostgreSQL stopped");
      await sleep(ctx.quick ? 5000 : 20_000);
      await ctx.system.pg.resume();
      ctx.event("PostgreSQL started");
    },
  },
  {
    name: "nats-cluster",
    fault: "3-node cluster, R3: kill -9 the stream leader, the consumer leader, a follower",
    natsNodes: 3,
    // From the moment the cluster has new leaders (defect: the worker waited 36 s for its old pull to expire).
    maxStallMs: 10_000,
    async inject(ctx) {
      if (!ctx.quick) {
        await ctx.at(0.15);
        await loseNode(ctx, "stream leader", (l) => l.stream);
      }
      await ctx.at(ctx.quick ? 0.2 : 0.4);
      await loseNode(ctx, "consumer leader", (l) => l.consumer);
      if (!ctx.quick) {
        await ctx.at(0.65);
        await loseNode(
          ctx,
          "follower",
          (l) => l.all.find((n) => n !== l.stream && n !== l.consumer) ?? l.all[0],
        );
      }
    },
  },
  {
    name: "replay",
    fault: "1 in 20 orders refused by a CHECK; 3 concurrent bulk replays while the cause stays, then fixed",
    prepare: addPoisonCheck,
    poison: (n) => n % 20 === 7,
    expected: () => "completed",
    async inject(ctx) {
      const rounds = ctx.quick ? 4 : 10;
      for (let i = 0; i < rounds; i++) {
        await ctx.at(0.1 + (0.8 * i) / rounds);
        ctx.event(`replay round ${i + 1}: ${await replayConcurrently(ctx, { entity: "Order" }, 3)}`);
      }
    },
    async afterSettle(ctx) {
      await ctx.system.sql.unsafe("ALTER TABLE orders DROP CONSTRAINT chaos_poison");
      ctx.event("cause removed (CHECK dropped)");
      ctx.event(`replay all: ${await replayConcurrently(ctx, { all: true }, 3)}`);
    },
  },
  {
    name: "poison",
    fault: "1 in 50 orders refused by a CHECK (23514) among good ones",
    prepare: addPoisonCheck,
    poison: (n) => n % 50 === 13,
    expected: (s) => s.poison ? "dlq" : "completed",
    async inject() {},
  },
  {
    name: "stream-full",
    fault: "workers frozen (SIGSTOP) until the 1 MiB ingest stream (discard: new) is full, then thawed",
    flags: [`--stream-max-bytes=${1024 * 1024}`],
    expect503: true,
    async inject(ctx) {
      for (const w of ctx.system.workers) w.pause();
      ctx.event("workers SIGSTOP");
      await waitFor("the API to answer 503", () => (ctx.load.stats.answers["503"] ?? 0) >= 100, 60_000)
        .catch(() => ctx.violation("no 503 while the stream was full"));
      await sleep(2000); // full for a while: every client keeps getting 503
      for (const w of ctx.system.workers) w.resume();
      ctx.event(`workers SIGCONT after ${ctx.load.stats.answers["503"] ?? 0} answers 503`);
    },
  },
];
