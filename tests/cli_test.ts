/**
 * The command line as a user runs it: exit codes, `validate`, `topology`, and `dlq` against live services.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runNomnom } from "./child.ts";
import {
  acceptAgain,
  createTempDir,
  createTestEnv,
  post,
  rejectAbove,
  TPCH,
  waitForStatus,
} from "./harness.ts";

Deno.test("nomnom validate prints entities, tables and subjects, and exits 1 listing every error", async () => {
  const ok = await runNomnom(["validate", `--entities=${TPCH}entities`]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /OrderLineItem \(derived — one per Order\.line_items\[\]\)/);
  assert.match(ok.stdout, /unique key \(order_key, line_number\)/);

  await using entities = await createTempDir("nomnom-entities-");
  const dir = entities.path;
  await writeFile(
    join(dir, "a.yaml"),
    "entity: { name: A, fields: [{ name: x, type: uuidv9 }], persistance: {} }\n",
  );
  await writeFile(join(dir, "b.yaml"), "entity: { name: B, source_type: derived }\n");
  const bad = await runNomnom(["validate", `--entities=${dir}`]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /entity "A" from ".*a\.yaml": unknown key "persistance" in entity; did you mean persistence\?/,
  );
  // The unknown key does not hide the rest of the file.
  assert.match(
    bad.stderr,
    /entity "A" from ".*a\.yaml": fields\[0\] "x" has unknown type "uuidv9"; valid types: string,/,
  );
  assert.match(
    bad.stderr,
    /entity "B" from ".*b\.yaml": a derived entity needs "repeated_for" or "parent"/,
  );
});

Deno.test("a bad flag or env value is one line naming it, exit code 2", async () => {
  const flag = await runNomnom(["--port=http"]);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr.trim().split("\n").length, 1);
  assert.match(flag.stderr, /--port="http"/);
  const env = await runNomnom(["topology"], { env: { NOMNOM_BATCH_SIZE: "ten" } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /NOMNOM_BATCH_SIZE \(env\)/);
});

Deno.test("nomnom topology prints the streams, subjects, consumer and NATS permissions for the namespace", async () => {
  const r = await runNomnom(["topology", "--namespace=shop", `--entities=${TPCH}entities`]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /stream shop_ingest: subjects shop\.ingest\.>/);
  assert.match(r.stdout, /stream shop_dlq: subjects shop\.dlq\.>/);
  assert.match(r.stdout, /consumer shop_worker on shop_ingest/);
  assert.match(r.stdout, /entity Order: ingest shop\.ingest\.Order\.\*, dead letters shop\.dlq\.Order\.\*/);
  assert.match(r.stdout, /nats user of the api role: publish shop\.ingest\.> .*; subscribe _INBOX\.>/);
  assert.match(
    r.stdout,
    /nats user of the worker role: publish shop\.dlq\.> .*\$JS\.ACK\.shop_ingest\.shop_worker\.>/,
  );
});

Deno.test("nomnom dlq lists, shows and bulk-replays dead letters", async () => {
  await using env = await createTestEnv();
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const all = await env.start("all");
  const order = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));
  const ids: string[] = [];
  for (const key of ["O1", "O2", "O3"]) {
    ids.push(
      (await post(`${all.url}/ingest/message/Order`, { ...order, order_key: key, ship_priority: 1e5 })).body
        .message_id as string,
    );
  }
  await waitForStatus(env.sql, ids, "dlq");

  const list = await runNomnom(["dlq", "list", ...env.flags, "--entity=Order"]);
  assert.equal(list.code, 0, list.stderr);
  for (const id of ids) assert.match(list.stdout, new RegExp(id));
  const show = await runNomnom(["dlq", "show", ids[0], ...env.flags]);
  assert.equal(JSON.parse(show.stdout).message.order_key, "O1");

  await acceptAgain(env.sql, "orders", "ship_priority");
  const nothing = await runNomnom(["dlq", "replay", ...env.flags]);
  assert.equal(nothing.code, 2, "a bulk replay needs a filter or --all");
  const replay = await runNomnom(["dlq", "replay", ...env.flags, "--error=22003"]);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /matched 3, replayed 3, failed 0/);
  assert.match(replay.stderr, /replaying: 3\/3/);
  await waitForStatus(env.sql, ids, "completed");
  const again = await runNomnom(["dlq", "replay", ids[0], ...env.flags]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /is not in the dead-letter queue: its status is completed/);
});

Deno.test("nomnom dlq refuses an id that is not a message id (a wildcard matched other entries), exit code 2", async () => {
  await using env = await createTestEnv();
  for (const [action, id] of [["drop", ">"], ["show", "*"], ["replay", "O1.>"], ["drop", "not-an-id"]]) {
    const r = await runNomnom(["dlq", action, id, ...env.flags]);
    assert.equal(r.code, 2, `dlq ${action} ${id}`);
    assert.match(r.stderr, new RegExp(`"${id.replace(/[.*>]/g, "\\$&")}" is not a message id`));
  }
});

Deno.test("nomnom --version and nomnom help answer with exit code 0; a mistyped flag is named with the closest one, exit 2", async () => {
  const version = await runNomnom(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^nomnom \d+\.\d+\.\d+\n$/);
  const help = await runNomnom(["help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^ {2}dlq list\|show\|replay\|drop \[id\] +the dead-letter queue/m);
  const typo = await runNomnom(["--prot=8081"]);
  assert.equal(typo.code, 2);
  assert.equal(
    typo.stderr,
    `nomnom: Unknown flag --prot for "nomnom run"; did you mean --port? Run "nomnom run --help".\n`,
  );
});

Deno.test("a role of its own, migrate and dlq need real services: exit 2 naming the flag and env variable", async () => {
  const bare = { NATS_URL: "", DATABASE_URL: "", NATS_URL_FILE: "", DATABASE_URL_FILE: "" };
  const api = await runNomnom(["--role=api"], { env: bare });
  assert.equal(api.code, 2);
  assert.match(api.stderr, /--role=api needs --nats-url \(NATS_URL\)/);
  const worker = await runNomnom(["--role=worker", "--nats-url=nats://127.0.0.1:1"], { env: bare });
  assert.match(worker.stderr, /--role=worker needs --database-url \(DATABASE_URL\)/);
  const migrate = await runNomnom(["migrate"], { env: bare });
  assert.equal(migrate.code, 2);
  assert.match(migrate.stderr, /nomnom migrate needs --database-url \(DATABASE_URL\)/);
});

Deno.test("DATABASE_URL_FILE: a secret read from a file; unreadable, doubled or invalid is exit 2 without the contents", async () => {
  await using secrets = await createTempDir("nomnom-secrets-");
  const dir = secrets.path;
  const bad = join(dir, "bad-url");
  await writeFile(bad, "postgres://u:hunter2@[oops/db\n");
  const invalid = await runNomnom(["--role=api", "--nats-url=nats://127.0.0.1:1"], {
    env: { DATABASE_URL_FILE: bad },
  });
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, new RegExp(`Invalid DATABASE_URL_FILE="${bad}": must be a URL`));
  assert.doesNotMatch(invalid.stderr, /hunter2/);
  const missing = await runNomnom(["topology"], { env: { NATS_URL_FILE: join(dir, "absent") } });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot read NATS_URL_FILE=".*absent" \(ENOENT\)/);
  const both = await runNomnom(["topology"], {
    env: { DATABASE_URL: "postgres://a/b", DATABASE_URL_FILE: bad },
  });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /Set DATABASE_URL or DATABASE_URL_FILE, not both/);
});
