/**
 * Seeded, reproducible TPC-H-style orders with 1–7 line items, in the shape of the original's TPC-H entities
 * (tests/fixtures/nomnom-tpch/entities), for the benchmark.
 */

/** mulberry32: a small, fast, seeded PRNG. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
const day = (random: () => number) =>
  new Date(Date.UTC(1992, 0, 1) + Math.floor(random() * 2400) * 86_400_000).toISOString().slice(0, 10);

export type Order = Record<string, unknown> & { order_key: string; line_items: Record<string, unknown>[] };

/** `count` orders from `seed`; order keys are `O<prefix><n>` so that runs do not collide. */
export function generateOrders(count: number, seed = 42, prefix = ""): Order[] {
  const random = createRandom(seed);
  const orders: Order[] = [];
  for (let n = 0; n < count; n++) {
    const items = 1 + Math.floor(random() * 7);
    const line_items = Array.from({ length: items }, (_, i) => {
      const quantity = 1 + Math.floor(random() * 50);
      return {
        line_number: i + 1,
        part_key: `P${Math.floor(random() * 200_000)}`,
        supplier_key: `S${Math.floor(random() * 10_000)}`,
        quantity,
        extended_price: Math.round(quantity * (900 + random() * 1000) * 100) / 100,
        discount: Math.round(random() * 10) / 100,
        tax: Math.round(random() * 8) / 100,
        return_flag: random() < 0.25 ? "R" : "N",
        line_status: random() < 0.5 ? "O" : "F",
        ship_date: day(random),
        commit_date: day(random),
        receipt_date: random() < 0.1 ? null : day(random),
      };
    });
    orders.push({
      order_key: `O${prefix}${n}`,
      customer_key: `C${Math.floor(random() * 150_000)}`,
      order_status: random() < 0.5 ? "O" : "F",
      total_price: Math.round(line_items.reduce((s, i) => s + i.extended_price, 0) * 100) / 100,
      order_date: day(random),
      order_priority: PRIORITIES[Math.floor(random() * PRIORITIES.length)],
      clerk: `Clerk#${String(Math.floor(random() * 1000)).padStart(9, "0")}`,
      ship_priority: 0,
      comment: "furiously regular deposits sleep quickly",
      line_items,
    });
  }
  return orders;
}
