/**
 * The whole pipeline over a NATS that requires mutual TLS and a user per role, each limited to the subjects
 * natsPermissions() (src/stream/permissions.ts) computes: api and worker as separate processes, a message posted
 * ends completed in PostgreSQL, `nomnom dlq` works, no password reaches a log, and a user without those
 * permissions cannot publish to the ingest subjects.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { loadConfig } from "../src/config.ts";
import { loadRegistry } from "../src/registry/load.ts";
import { natsPermissions, renderNatsUser } from "../src/stream/permissions.ts";
import { createTopology } from "../src/stream/topology.ts";
import { apiUrl, runNomnom } from "./child.ts";
import { acceptAgain, createTestEnv, post, rejectAbove, TPCH, uniqueName, waitForStatus } from "./harness.ts";
import { startPrivateNats } from "./private_nats.ts";
import { createTestCertificates } from "./tls_certs.ts";

const exampleOrder = JSON.parse(await readFile(TPCH + "example_order.json", "utf8"));

Deno.test("api and worker run over mutual TLS with one NATS user each, limited to natsPermissions()", async () => {
  await using certs = await createTestCertificates();
  const namespace = uniqueName();
  const topology = createTopology(
    loadConfig([`--namespace=${namespace}`], {}),
    await loadRegistry(TPCH + "entities"),
  );
  const permissions = natsPermissions(topology);
  const passwords = { api: "api p@ss,w0rd:%", worker: "w0rker/S3cret pw", other: "0ther-S3cret" };
  const users = [
    renderNatsUser("api", passwords.api, permissions.api),
    renderNatsUser("worker", passwords.worker, permissions.worker),
    renderNatsUser("other", passwords.other, { publish: ["other.>", "$JS.API.>"], subscribe: ["_INBOX.>"] }),
  ];
  await using nats = await startPrivateNats("", {
    scheme: "tls",
    config:
      `tls { cert_file: "${certs.server.cert}"\nkey_file: "${certs.server.key}"\nca_file: "${certs.ca}"\n` +
      `verify: true }\nauthorization { users: [\n${users.join("\n")}\n] }`,
  });
  const tls = { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key };
  await using env = await createTestEnv({
    namespace,
    nats: {
      url: nats.url,
      flags: [
        `--nats-ca-file=${certs.ca}`,
        `--nats-cert-file=${certs.client.cert}`,
        `--nats-key-file=${certs.client.key}`,
      ],
      options: { tls, user: "other", pass: passwords.other },
    },
  });
  const passwordFile = async (role: "api" | "worker") => {
    const path = join(certs.dir, `${role}.password`);
    await writeFile(path, passwords[role] + "\n");
    return { NOMNOM_NATS_USER: role, NOMNOM_NATS_PASSWORD_FILE: path };
  };
  // ship_priority above this is refused by the table: such an order is dead-lettered, then replayed.
  await env.migrate();
  await rejectAbove(env.sql, "orders", "ship_priority", 32767);
  const api = env.spawn("api", [], { env: await passwordFile("api") });
  const worker = env.spawn("worker", [], { env: await passwordFile("worker") });
  const url = await apiUrl(api);
  await worker.waitForLog(/"worker (started|consuming)/);

  const accepted = await post(`${url}/ingest/message/Order`, exampleOrder);
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  await waitForStatus(env.sql, accepted.body.message_id as string, "completed");
  const [{ orders }] = await env.sql`SELECT count(*)::int AS orders FROM orders`;
  assert.equal(orders, 1);

  // The worker dead-letters, the dead-letter CLI lists and replays with the api user's permissions.
  const refused = await post(`${url}/ingest/message/Order`, {
    ...exampleOrder,
    order_key: "O2",
    ship_priority: 1e5,
  });
  const id = refused.body.message_id as string;
  await waitForStatus(env.sql, id, "dlq");
  const asApi = { env: await passwordFile("api") };
  const listed = await runNomnom(["dlq", "list", ...env.flags], asApi);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(id));
  await acceptAgain(env.sql, "orders", "ship_priority");
  const replayed = await runNomnom(["dlq", "replay", id, ...env.flags], asApi);
  assert.equal(replayed.code, 0, replayed.stderr);
  await waitForStatus(env.sql, id, "completed");
  const stats = await fetch(`${url}/stats`);
  assert.equal(stats.status, 200, await stats.text());

  // A user of the same server without these permissions cannot inject a message.
  const nc = await env.connectNats();
  await assert.rejects(
    jetstream(nc).publish(topology.ingestSubject("Order", crypto.randomUUID()), JSON.stringify(exampleOrder)),
  );

  for (const child of [api, worker]) {
    for (const secret of Object.values(passwords)) {
      assert.ok(!child.output().includes(secret), `${child.name} logged a password`);
    }
  }
  assert.doesNotMatch(nats.child().output(), /Violation - User "(api|worker)"/);
});
