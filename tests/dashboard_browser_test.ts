/// <reference lib="dom" />
/**
 * The dashboard as an operator uses it, in a real browser (Debian's chromium driven by playwright-core): the
 * page follows orders posted over HTTP without a reload, shows a message the database rejects in the
 * dead-letter view, replays it from the page once the cause is fixed, and reconnects by itself when the API
 * restarts. It saves a screenshot (NOMNOM_DASHBOARD_SCREENSHOT=path, else a temp dir; docs/dashboard.png is
 * one).
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { chromium, type Page } from "playwright-core";
import { createTestEnv, post, waitForStatus } from "./harness.ts";

const ENTITIES = new URL("../entities", import.meta.url).pathname;
/** Debian's chromium: this machine cannot download Playwright's own browser build. */
export const CHROMIUM = {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

function order(id: string, total = "59.97") {
  return {
    order_id: id,
    customer_id: "C-42",
    status: "placed",
    total,
    currency: "EUR",
    placed_at: "2026-11-23T10:15:00.123456Z",
    note: null,
    line_items: [
      { line: 1, sku: "MUG-BLUE", quantity: 2, unit_price: "12.990", discount: null },
      { line: 2, sku: "TEE-L", quantity: 1, unit_price: "33.99", discount: "0.00" },
    ],
  };
}

/** Wait until the text of `selector` is `expected` (the page updates itself; no reload). */
async function waitText(page: Page, selector: string, expected: string, timeout = 20_000) {
  try {
    await page.waitForFunction(
      ([s, e]) => document.querySelector(s)?.textContent?.trim() === e,
      [selector, expected],
      { timeout },
    );
  } catch (error) {
    const actual = await page.locator(selector).first().textContent().catch(() => "(absent)");
    throw new Error(`"${selector}" never showed "${expected}" (it shows "${actual}")`, { cause: error });
  }
}

Deno.test({
  name:
    "the dashboard follows orders live, replays a dead letter from the page and reconnects after an API restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using env = await createTestEnv({ entities: ENTITIES });
    const browser = await chromium.launch(CHROMIUM);
    const problems: string[] = [];
    let page: Page | undefined;
    try {
      await env.start("worker");
      let api = await env.start("api");
      const port = new URL(api.url).port;
      page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      await page.goto(`${api.url}/dashboard`);
      await page.waitForSelector('[data-testid=conn][data-state="live"]');
      await waitText(page, "[data-testid=workers] .v", "1");
      await waitText(page, "[data-testid=postgresql] .v", "up");

      // Orders posted over HTTP appear without a reload: counts, then rows with PostgreSQL's exact values.
      const ids: string[] = [];
      for (let i = 1; i <= 3; i++) {
        const r = await post(`${api.url}/ingest/message/Order`, order(`SO-${i}`));
        assert.equal(r.status, 202);
        ids.push(r.body.message_id as string);
      }
      await waitForStatus(env.sql, ids, "completed");
      await waitText(page, '[data-entity="Order"] [data-count="completed"] .v', "3");
      await waitText(page, '[data-entity="Order"] [data-table="order_line_items"] b', "6");
      await page.click('[data-tab="data"]');
      await page.selectOption("[data-testid=data-entity]", "Order");
      await page.waitForFunction(() =>
        document.querySelectorAll("[data-testid=rows-Order] > tbody > tr").length === 3
      );
      const cells = await page.locator("[data-testid=rows-Order] > tbody > tr").first().locator("td")
        .allTextContents();
      assert.ok(cells.includes("59.97"), `numeric as stored: ${cells}`);
      assert.ok(
        cells.includes("2026-11-23 10:15:00.123456+00"),
        `timestamptz with its microseconds: ${cells}`,
      );
      assert.ok(cells.includes("NULL"), "the null note shows as NULL");
      await page.locator("[data-testid=rows-Order] [data-testid=expand]").first().click();
      await page.waitForSelector("[data-testid=children-OrderLineItem]");
      const items = await page.locator("[data-testid=children-OrderLineItem] tbody tr").allTextContents();
      assert.equal(items.length, 2, "an order opens its two line items");
      assert.ok(items.some((t) => t.includes("12.990")), `the unit price keeps its scale: ${items}`);

      // A message the database rejects: dead-lettered, seen in the DLQ view, replayed from the page once fixed.
      await env.sql`ALTER TABLE orders ADD CONSTRAINT dashboard_test_total CHECK (total < 1000)`;
      const bad = await post(`${api.url}/ingest/message/Order`, order("SO-BIG", "5000.00"));
      const badId = bad.body.message_id as string;
      await waitForStatus(env.sql, badId, "dlq");
      await page.click('[data-tab="dlq"]');
      await page.waitForSelector(`[data-testid=dlq-row][data-id="${badId}"]`);
      assert.match(
        await page.locator(`[data-testid=dlq-row][data-id="${badId}"]`).textContent() ?? "",
        /23514|dashboard_test_total/,
      );
      await waitText(page, "[data-testid=dlq-depth] .v", "1");
      await page.click(`[data-testid=dlq-row][data-id="${badId}"]`);
      await page.waitForSelector("[data-testid=dlq-message]");
      assert.match(await page.locator("[data-testid=dlq-message]").textContent() ?? "", /SO-BIG/);
      await env.sql`ALTER TABLE orders DROP CONSTRAINT dashboard_test_total`;
      await page.click("[data-testid=dlq-replay]");
      await page.waitForSelector("[data-testid=dlq-notice].ok");
      await waitForStatus(env.sql, [badId], "completed");
      await waitText(page, '[data-entity="Order"] [data-count="completed"] .v', "4");
      await waitText(page, "[data-testid=dlq-depth] .v", "0");
      await page.click('[data-tab="messages"]');
      await page.click(`[data-testid=messages] tr[data-id="${badId}"]`);
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=status-detail]")?.textContent?.includes("completed")
      );
      const history = await page.locator("[data-testid=history] li").allTextContents();
      assert.ok(
        history.some((t) => t.includes("dlq")) && history.some((t) => t.includes("completed")),
        `history: ${history}`,
      );
      await page.click(".drawer .drawer-head button");

      // The API restarts: the page says so, reconnects by itself and follows new orders again.
      await api.stop();
      await page.waitForSelector('[data-testid=conn][data-state="reconnecting"]');
      api = await env.start("api", [`--port=${port}`]);
      await page.waitForSelector('[data-testid=conn][data-state="live"]', { timeout: 20_000 });
      const after = await post(`${api.url}/ingest/message/Order`, order("SO-AFTER"));
      await waitForStatus(env.sql, [after.body.message_id as string], "completed");
      await waitText(page, '[data-entity="Order"] [data-count="completed"] .v', "5");
      await page.click('[data-tab="data"]');
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=rows-Order] > tbody > tr")?.textContent?.includes("SO-AFTER")
      );

      const shot = process.env.NOMNOM_DASHBOARD_SCREENSHOT ??
        join(await mkdtemp(join(tmpdir(), "nomnom-dashboard-")), "dashboard.png");
      await page.click('[data-tab="messages"]');
      await page.screenshot({ path: shot, fullPage: false });
      assert.deepEqual(problems, []);
    } catch (error) {
      // What the page showed when it went wrong is the first thing to look at.
      const shot = join(await mkdtemp(join(tmpdir(), "nomnom-dashboard-failed-")), "failed.png");
      await page?.screenshot({ path: shot }).catch(() => {});
      throw new Error(`${(error as Error).message}\nscreenshot: ${shot}\n${problems.join("\n")}`, {
        cause: error,
      });
    } finally {
      await browser.close();
    }
  },
});
