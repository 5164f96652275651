import assert from "node:assert/strict";
import { createRegistry } from "../registry/load.ts";
import { createKeyOf } from "../registry/key.ts";
import { newestByKey, type Row } from "./write_batch.ts";

const registry = createRegistry([{
  path: "account.yaml",
  text: `
entity:
  name: Account
  fields: [{ name: account_no, type: BigInt }, { name: at, type: DateTime }, { name: balance, type: Decimal }]
  persistence: { database: { unicity_fields: [account_no, at] } }`,
}]);
const account = registry.entities.get("Account")!;
const keyOf = createKeyOf(account);
/** Rows as writeBatch() makes them: the key computed from the values (createKeyOf). */
const rowsOf = (list: (Record<string, unknown> & { _seq: number })[]): Row[] =>
  list.map(({ _seq, ...values }) => ({ values, key: keyOf(values), messageId: `m${_seq}`, seq: _seq }));
const summary = (rows: Row[]) => rows.map((r) => [r.values.account_no, r.seq]);

Deno.test("newestByKey() keeps the row latest in the stream for each key and sorts rows by key", () => {
  const rows = [
    { account_no: 2, at: "2025-01-01T00:00:00Z", balance: 1, _seq: 10 },
    { account_no: 1, at: "2025-01-01T00:00:00Z", balance: 2, _seq: 12 },
    { account_no: 2, at: "2025-01-01T00:00:00Z", balance: 3, _seq: 11 },
    { account_no: 1, at: "2025-01-01T00:00:00Z", balance: 4, _seq: 9 },
  ];
  assert.deepEqual(summary(newestByKey(rowsOf(rows))), [[1, 12], [2, 11]]);
});

Deno.test("newestByKey() treats one key spelt two ways as one row (PostgreSQL would fail the upsert with 21000)", () => {
  const rows = [
    { account_no: 5, at: "2025-01-01T12:00:00+02:00", balance: "1.50", _seq: 3 },
    { account_no: "5", at: "2025-01-01T10:00:00.000Z", balance: 1.5, _seq: 4 },
    { account_no: "6", at: "2025-01-01T10:00:00Z", balance: 1, _seq: 2 },
  ];
  assert.deepEqual(summary(newestByKey(rowsOf(rows))), [["5", 4], ["6", 2]]);
});
