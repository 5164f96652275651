/**
 * Baseline B's tables and statements: the TPC-H orders and line items upserted with plain multi-row `unnest`
 * statements, no nomnom code. Shared by phase B (rows from memory) and the minimal consumer (rows from a pull
 * consumer), so that both measure the same SQL.
 */
import type postgres from "postgres";
import type { Order } from "./orders.ts";

export async function createBaselineTables(sql: postgres.Sql): Promise<void> {
  await sql.unsafe(
    `CREATE TABLE IF NOT EXISTS bench_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_key text NOT NULL UNIQUE, customer_key text NOT NULL, order_status text NOT NULL,
    total_price double precision NOT NULL, order_date text NOT NULL, order_priority text, clerk text,
    ship_priority integer, comment text, seq bigint NOT NULL)`,
  );
  await sql.unsafe(
    `CREATE TABLE IF NOT EXISTS bench_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_key text NOT NULL, line_number integer NOT NULL, part_key text NOT NULL, supplier_key text,
    quantity integer NOT NULL, extended_price double precision NOT NULL, discount double precision,
    tax double precision, return_flag text, line_status text, ship_date text, commit_date text,
    receipt_date text, seq bigint NOT NULL, UNIQUE (order_key, line_number))`,
  );
}

export async function dropBaselineTables(sql: postgres.Sql): Promise<void> {
  await sql.unsafe("DROP TABLE IF EXISTS bench_orders, bench_items");
}

/** Upsert `chunk` (with its stream sequences, the version guard) in the transaction `tx`: two statements. */
export async function upsertBaseline(tx: postgres.Sql, chunk: Order[], seqs: number[]): Promise<void> {
  const items = chunk.flatMap((o, k) =>
    o.line_items.map((li) => ({ ...li, order_key: o.order_key, seq: seqs[k] }))
  );
  const col = <T>(list: T[], key: string) => list.map((r) => (r as Record<string, unknown>)[key] as never);
  await tx`INSERT INTO bench_orders (order_key, customer_key, order_status, total_price, order_date,
      order_priority, clerk, ship_priority, comment, seq)
    SELECT * FROM unnest(${col(chunk, "order_key")}::text[], ${col(chunk, "customer_key")}::text[],
      ${col(chunk, "order_status")}::text[], ${col(chunk, "total_price")}::float8[],
      ${col(chunk, "order_date")}::text[], ${col(chunk, "order_priority")}::text[], ${
    col(chunk, "clerk")
  }::text[],
      ${col(chunk, "ship_priority")}::int[], ${col(chunk, "comment")}::text[], ${seqs as never[]}::int8[])
    ON CONFLICT (order_key) DO UPDATE SET total_price = EXCLUDED.total_price, seq = EXCLUDED.seq
    WHERE bench_orders.seq < EXCLUDED.seq`;
  await tx`INSERT INTO bench_items (order_key, line_number, part_key, supplier_key, quantity, extended_price,
      discount, tax, return_flag, line_status, ship_date, commit_date, receipt_date, seq)
    SELECT * FROM unnest(${col(items, "order_key")}::text[], ${col(items, "line_number")}::int[],
      ${col(items, "part_key")}::text[], ${col(items, "supplier_key")}::text[], ${
    col(items, "quantity")
  }::int[],
      ${col(items, "extended_price")}::float8[], ${col(items, "discount")}::float8[], ${
    col(items, "tax")
  }::float8[],
      ${col(items, "return_flag")}::text[], ${col(items, "line_status")}::text[], ${
    col(items, "ship_date")
  }::text[],
      ${col(items, "commit_date")}::text[], ${col(items, "receipt_date")}::text[], ${
    col(items, "seq")
  }::int8[])
    ON CONFLICT (order_key, line_number) DO UPDATE SET quantity = EXCLUDED.quantity, seq = EXCLUDED.seq
    WHERE bench_items.seq < EXCLUDED.seq`;
}
