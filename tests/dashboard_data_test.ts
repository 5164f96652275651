/**
 * The dashboard's figures and rows over live NATS and PostgreSQL: the feed shows the backlog before any worker
 * runs (and no worker, with NATS up), then the workers and the completions; two API replicas show the same
 * figures but their own "here"; PostgreSQL cut off shows as down with unknown counts; the data routes give
 * every value exactly as PostgreSQL's text of it (checked against the server itself), page without gaps, and
 * reach the derived rows of a root whose key is a bigint and a timestamptz.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createTempDir, createTestEnv, post, waitFor, waitForStatus } from "./harness.ts";
import type { Overview, RowsPage } from "../src/dashboard/ui/types.ts";
import { DashboardRows } from "../src/api/contract.ts";

const LEDGER = `entity:
  name: Ledger
  fields:
    - { name: account, type: BigInt }
    - { name: at, type: DateTime }
    - { name: amount, type: Decimal }
    - { name: meta, type: Json, nullable: true }
    - { name: lines, type: "List[Object]" }
  persistence: { database: { unicity_fields: [account, at] } }
`;
const LEDGER_LINE = `entity:
  name: LedgerLine
  source_type: derived
  repeated_for: { entity: Ledger, field: lines, each_known_as: l }
  fields:
    - name: account
      type: BigInt
      computed_from: { transform: copy_field, sources: [{ source: Ledger, field: account }] }
    - { name: n, type: Integer }
    - { name: big, type: BigInt }
  persistence: {}
`;

function ledger(at: string) {
  return `{"account": "9007199254740993", "at": "${at}", "amount": "12345678901234567890.1234567890",
    "meta": {"note": "ü", "n": 1.5}, "lines": [{"n": 1, "big": "922337203685477580"}, {"n": 2, "big": -5}]}`;
}

/** Follow the feed until `check` accepts the newest overview. */
async function overview(url: string, what: string, check: (o: Overview) => boolean): Promise<Overview> {
  const response = await fetch(`${url}/dashboard/events`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let found: Overview | undefined;
  try {
    await waitFor(what, async () => {
      const { value } = await reader.read();
      buffer += decoder.decode(value, { stream: true });
      for (const m of buffer.matchAll(/event: overview\ndata: (.*)\n\n/g)) {
        const o = JSON.parse(m[1]) as Overview;
        if (check(o)) found = o;
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
      return found;
    }, 30_000);
  } finally {
    await reader.cancel();
  }
  return found!;
}

Deno.test("the feed shows the backlog with no worker connected, then the worker and the completions", async () => {
  await using env = await createTestEnv();
  const api = await env.start("api");
  const none = await overview(api.url, "an overview", (o) => o.pipeline !== null);
  assert.deepEqual(none.pipeline!.workers, [], "no worker answers: zero, not an error");
  assert.equal(none.health.nats.ok, true);
  assert.equal(none.health.postgres.ok, true);
  const order = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/nomnom-tpch/example_order.json", import.meta.url)),
  );
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(
      (await post(`${api.url}/ingest/message/Order`, { ...order, order_key: `O${1000 + i}` })).body
        .message_id as string,
    );
  }
  await overview(api.url, "a backlog of 3", (o) => o.pipeline?.pending === 3);
  await env.start("worker");
  await waitForStatus(env.sql, ids, "completed");
  const done = await overview(
    api.url,
    "one worker and 3 completed",
    (o) => o.pipeline?.workers.length === 1 && o.entities.find((e) => e.name === "Order")?.completed === 3,
  );
  assert.equal(done.pipeline!.pending, 0);
  assert.equal(
    done.entities.find((e) => e.name === "Order")!.accepted,
    3,
    "from PostgreSQL, every replica's",
  );
  assert.equal(done.entities.find((e) => e.name === "Order")!.tables[0].rows, 3);
});

Deno.test("rows are PostgreSQL's own text of every value, paged without gaps, and a root opens its derived rows", async () => {
  await using dir = await createTempDir("nomnom-dashboard-");
  await writeFile(join(dir.path, "ledger.yaml"), LEDGER);
  await writeFile(join(dir.path, "ledger_line.yaml"), LEDGER_LINE);
  await using env = await createTestEnv({ entities: dir.path });
  const all = await env.start("all");
  const ids: string[] = [];
  // Eleven rows: ids 1 to 11, so that an order by the ids' text ("9" after "11") would show.
  const times = Array.from({ length: 8 }, (_, i) => `2026-11-24T00:00:0${i}Z`);
  for (
    const at of [
      "2026-11-23T10:15:00.123456+02:00",
      ...times,
      "2026-11-23T10:16:00Z",
      "2026-11-23T10:17:00.5Z",
    ]
  ) {
    const r = await post(`${all.url}/ingest/message/Ledger`, ledger(at));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    ids.push(r.body.message_id as string);
  }
  await waitForStatus(env.sql, ids, "completed");

  const get = async (path: string) => (await (await fetch(`${all.url}${path}`)).json()) as RowsPage;
  const first = await get("/dashboard/api/rows/Ledger?limit=8");
  const second = await get(`/dashboard/api/rows/Ledger?limit=8&before=${first.next_before}`);
  assert.equal(second.next_before, null);
  for (const page of [first, second]) {
    assert.ok(DashboardRows.strict().safeParse(page).success, "a page is what the contract documents");
  }
  const rows = [...first.rows, ...second.rows];
  assert.equal(rows.length, 11, "two pages hold every row once");
  assert.deepEqual(
    rows.map((r) => r[0]),
    ["11", "10", "9", "8", "7", "6", "5", "4", "3", "2", "1"],
    "newest first",
  );

  // The oracle: PostgreSQL's text of each column, newest first.
  const cols = first.columns.map((c) => `"${c}"::text`).join(", ");
  const expected = await env.sql.unsafe(`SELECT ${cols} FROM ledgers AS t ORDER BY t.id DESC`).values();
  assert.deepEqual(rows, [...expected].map((r) => [...r]));
  const at = first.columns.indexOf("at");
  const index = rows.findIndex((r) => r[at] === "2026-11-23 08:15:00.123456+00");
  assert.ok(index >= 0, "timestamptz with its microseconds, in UTC as the session shows it");
  const row = Object.fromEntries(first.columns.map((c, i) => [c, rows[index][i]]));
  assert.equal(row.account, "9007199254740993", "a bigint beyond 2^53, not rounded");
  assert.equal(row.amount, "12345678901234567890.1234567890", "numeric with every digit and its scale");
  assert.equal(row.meta, '{"n": 1.5, "note": "ü"}', "jsonb as the server prints it");

  const children = await get(
    `/dashboard/api/rows/LedgerLine?root_key=${
      encodeURIComponent([...first.root_keys!, ...second.root_keys!][index])
    }`,
  );
  const big = children.columns.indexOf("big");
  assert.deepEqual(children.rows.map((r) => r[big]).sort(), ["-5", "922337203685477580"]);
  const bad = await fetch(`${all.url}/dashboard/api/rows/Ledger?before=abc`);
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).details.parameter, "before");
  assert.equal((await fetch(`${all.url}/dashboard/api/rows/Nope`)).status, 404);
});

Deno.test("two API replicas show the same figures, each its own 'here'; PostgreSQL cut off shows as down, then back", async () => {
  await using env = await createTestEnv();
  await env.start("worker");
  const a = await env.start("api");
  const b = await env.start("api");
  const order = JSON.parse(
    await Deno.readTextFile(new URL("./fixtures/nomnom-tpch/example_order.json", import.meta.url)),
  );
  const ids: string[] = [];
  for (const [url, key] of [[a.url, "O1"], [a.url, "O2"], [b.url, "O3"]]) {
    ids.push(
      (await post(`${url}/ingest/message/Order`, { ...order, order_key: key })).body.message_id as string,
    );
  }
  await waitForStatus(env.sql, ids, "completed");
  const orders = (o: Overview) => o.entities.find((e) => e.name === "Order")!;
  const settled = (o: Overview) =>
    orders(o).completed === 3 && orders(o).accepted === 3 && o.pipeline?.ack_pending === 0 &&
    o.pipeline.workers.length === 1;
  const [oa, ob] = [
    await overview(a.url, "3 completed on A", settled),
    await overview(b.url, "on B", settled),
  ];
  assert.deepEqual(
    [orders(oa).accepted_here, orders(ob).accepted_here],
    [2, 1],
    "per process, labelled 'here'",
  );
  // Everything else comes from NATS and PostgreSQL: the same on every replica.
  const shared = (o: Overview) => ({
    ...o,
    process: undefined,
    // The worker's open pull requests come and go between two reads.
    pipeline: { ...o.pipeline, waiting_pulls: undefined },
    entities: o.entities.map((e) => ({ ...e, accepted_here: undefined })),
  });
  assert.deepEqual(shared(oa), shared(ob));

  await env.cutDatabase();
  const down = await overview(
    a.url,
    "PostgreSQL down",
    (o) => !o.health.postgres.ok && orders(o).completed === null,
  );
  assert.equal(down.health.nats.ok, true);
  assert.equal(down.pipeline?.workers.length, 1, "NATS figures still come");
  assert.equal(orders(down).tables[0].rows, null, "unknown, not a made-up 0");
  await env.restoreDatabase();
  await overview(a.url, "PostgreSQL back", (o) => o.health.postgres.ok && orders(o).completed === 3);
});
