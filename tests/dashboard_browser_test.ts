/// <reference lib="dom" />
/**
 * The dashboard as an operator uses it, in a real browser (Debian's chromium driven by playwright-core): the
 * page follows orders posted over HTTP without a reload, shows a message the database rejects in the
 * dead-letter view, replays it from the page once the cause is fixed, and reconnects by itself when the API
 * restarts; posts a message from the form's sample, pages to older rows, filters dead letters by entity, error
 * and time, drops one and replays all that match; with API keys, it asks for one, names a scope the key lacks
 * and forgets it; and Swagger UI's Authorize and Try it out with a key. It saves a screenshot
 * (NOMNOM_DASHBOARD_SCREENSHOT=path, else a temp dir; docs/dashboard.png is one).
 */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { chromium, type Page } from "playwright-core";
import { createTempDir, createTestEnv, post, waitFor, waitForStatus } from "./harness.ts";

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

/**
 * Run `body` on a new page of a fresh chromium. Errors the page throws are collected and must be none; when
 * anything fails, the error names a screenshot of what the page showed (the first thing to look at) and the
 * page's errors.
 */
async function inBrowser(body: (page: Page) => Promise<void>): Promise<void> {
  const browser = await chromium.launch(CHROMIUM);
  const problems: string[] = [];
  let page: Page | undefined;
  try {
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await body(page);
    assert.deepEqual(problems, []);
  } catch (error) {
    const shot = join(await mkdtemp(join(tmpdir(), "nomnom-dashboard-failed-")), "failed.png");
    await page?.screenshot({ path: shot }).catch(() => {});
    throw new Error(`${(error as Error).message}\nscreenshot: ${shot}\n${problems.join("\n")}`, {
      cause: error,
    });
  } finally {
    await browser.close();
  }
}

Deno.test({
  name:
    "the dashboard follows orders live, replays a dead letter from the page and reconnects after an API restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using env = await createTestEnv({ entities: ENTITIES });
    await inBrowser(async (page) => {
      await env.start("worker");
      let api = await env.start("api");
      const port = new URL(api.url).port;
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
      await waitText(page, '[data-entity="Order"] [data-count="accepted"] .v', "3");
      await waitText(page, '[data-entity="Order"] [data-table="order_line_items"] b', "6");
      assert.match(
        await page.locator('[data-entity="Order"] [data-testid=rate]').textContent() ?? "",
        /^completed [\d.]+\/s now, at most [\d.]+\/s in the last 10 min$/,
      );
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
    });
  },
});

Deno.test({
  name: "from the page: post a message from the sample, page to older rows, filter dead letters by entity, " +
    "error and time, drop one and replay all that match",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using env = await createTestEnv({ entities: ENTITIES });
    await inBrowser(async (page) => {
      await env.start("worker");
      const api = await env.start("api");
      page.on("dialog", (dialog) => dialog.accept()); // the confirm() of drop and replay-all
      await page.goto(`${api.url}/dashboard#post`);
      await page.waitForSelector('[data-testid=conn][data-state="live"]');

      // The form starts from the registry's sample of the entity and posts it as it stands.
      await page.selectOption("#post-entity", "Order");
      await page.waitForFunction(() =>
        (document.querySelector("#post-body") as HTMLTextAreaElement | null)?.value.includes('"line_items"')
      );
      const sample = JSON.parse(await page.inputValue("#post-body"));
      assert.deepEqual(sample, await (await fetch(`${api.url}/dashboard/api/sample/Order`)).json());
      await page.click("[data-testid=post-send]");
      await page.waitForSelector("[data-testid=post-result].ok");
      const posted = (await page.locator("[data-testid=post-result] a").textContent())!;
      await waitForStatus(env.sql, posted, "completed");
      await page.fill("#post-body", "{ not json");
      await page.click("[data-testid=post-send]");
      await page.waitForSelector("[data-testid=post-result].error");
      assert.match(
        await page.locator("[data-testid=post-result]").textContent() ?? "",
        /^400: malformed JSON/,
      );

      // Eleven more orders: twelve rows, the live page holds the ten newest, "older" the other two.
      const ids: string[] = [];
      for (let i = 1; i <= 11; i++) {
        ids.push((await post(`${api.url}/ingest/message/Order`, order(`SO-${i}`))).body.message_id as string);
      }
      await waitForStatus(env.sql, ids, "completed");
      await page.click('[data-tab="data"]');
      await page.selectOption("[data-testid=data-entity]", "Order");
      const rowIds = () =>
        page!.locator("[data-testid=rows-Order] > tbody > tr[data-row-id]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.rowId)
        );
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=rows-Order] tr[data-row-id='12']")
      );
      assert.deepEqual(await rowIds(), ["12", "11", "10", "9", "8", "7", "6", "5", "4", "3"]);
      await page.click("[data-testid=older]");
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=rows-Order] tr[data-row-id='2']")
      );
      assert.deepEqual(await rowIds(), ["2", "1"], "the next page starts where the live one ends");
      await page.click("text=‹ newer");
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=rows-Order] tr[data-row-id='12']")
      );

      // Three dead letters: two orders (one cause), one product (another).
      await env.sql`ALTER TABLE orders ADD CONSTRAINT dashboard_flow_total CHECK (total < 1000)`;
      await env.sql`ALTER TABLE products ADD CONSTRAINT dashboard_flow_stock CHECK (stock < 10)`;
      const [big1, big2] = await Promise.all(
        ["SO-BIG1", "SO-BIG2"].map(async (id) =>
          (await post(`${api.url}/ingest/message/Order`, order(id, "5000.00"))).body.message_id as string
        ),
      );
      const product = (await post(`${api.url}/ingest/message/Product`, {
        sku: "MUG",
        title: "Mug",
        price: "9.90",
        tags: null,
        stock: 99,
      })).body.message_id as string;
      await waitForStatus(env.sql, [big1, big2, product], "dlq");
      await page.click('[data-tab="dlq"]');
      const listed = () =>
        page!.locator("[data-testid=dlq-row]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.id).sort()
        );
      /** Set the filter, submit it and wait for the list to be `expected`. */
      const filter = async (
        f: { entity?: string; error?: string; since?: string; until?: string },
        expected: string[],
      ) => {
        await page!.selectOption("[data-testid=dlq-entity]", f.entity ?? "");
        await page!.fill("[data-testid=dlq-error]", f.error ?? "");
        await page!.fill("[data-testid=dlq-since]", f.since ?? "");
        await page!.fill("[data-testid=dlq-until]", f.until ?? "");
        await page!.click("[data-testid=dlq-filter]");
        await waitFor(`the dead letters ${JSON.stringify(f)}`, async () => {
          const seen = await listed();
          return JSON.stringify(seen) === JSON.stringify([...expected].sort()) || undefined;
        }).catch(async (error) => {
          throw new Error(`${error.message}; the page lists ${await listed()}`);
        });
      };
      await filter({}, [big1, big2, product]);
      await filter({ entity: "Product" }, [product]);
      await filter({ error: "dashboard_flow_total" }, [big1, big2]);
      // datetime-local takes the browser's local time, to the minute.
      const local = (offsetMs: number) =>
        page!.evaluate((offset) => {
          const d = new Date(Date.now() + offset);
          d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
          return d.toISOString().slice(0, 16);
        }, offsetMs);
      await filter({ since: await local(2 * 60_000) }, []);
      await filter({ until: await local(-2 * 60_000) }, []);
      await filter({ since: await local(-2 * 60_000), until: await local(2 * 60_000) }, [
        big1,
        big2,
        product,
      ]);

      // Drop one order; then, the cause fixed, replay all that match the error: the other order only.
      await filter({ error: "dashboard_flow_total" }, [big1, big2]);
      await page.click(`[data-testid=dlq-row][data-id="${big1}"]`);
      await page.waitForSelector("[data-testid=dlq-drop]");
      await page.click("[data-testid=dlq-drop]");
      await page.waitForSelector("[data-testid=dlq-notice].ok");
      await waitForStatus(env.sql, big1, "dropped");
      await waitFor("the dropped one gone from the list", async () => (await listed()).join() === big2);
      await env.sql`ALTER TABLE orders DROP CONSTRAINT dashboard_flow_total`;
      await page.click("[data-testid=dlq-replay-all]");
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=dlq-notice].ok")?.textContent === "replayed 1 of 1"
      );
      await waitForStatus(env.sql, big2, "completed");
      const [{ status }] = await env.sql`SELECT status FROM nomnom.messages WHERE message_id = ${product}`;
      assert.equal(status, "dlq", "a dead letter the filter did not match stays");
      await filter({}, [product]);
    });
  },
});

Deno.test({
  name: "with API keys the dashboard asks for a key, shows the figures with a read key, names the scope a " +
    "dead-letter action lacks, hides row values and forgets the key on request",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await createTempDir();
    const keys = { read: "dash-read-key-0123456789", ingest: "dash-ingest-key-0123456789" };
    const file = join(dir.path, "keys.yaml");
    await writeFile(
      file,
      `- {name: viewer, key: ${keys.read}, scopes: [read]}\n- {name: shop, key: ${keys.ingest}, scopes: [ingest]}\n`,
    );
    await using env = await createTestEnv({ entities: ENTITIES, flags: [`--api-keys-file=${file}`] });
    await inBrowser(async (page) => {
      await env.start("worker");
      const api = await env.start("api");
      const auth = { authorization: `Bearer ${keys.ingest}` };
      await page.goto(`${api.url}/dashboard`);

      // No key: the page says why and asks for one.
      await page.waitForSelector("[data-testid=key-prompt]:not([hidden])");
      assert.match(
        await page.locator("[data-testid=key-reason]").textContent() ?? "",
        /401.*API key is required/,
      );
      await page.waitForSelector('[data-testid=conn][data-state="unauthorized"]');

      const ids: string[] = [];
      for (const id of ["SO-K1", "SO-K2"]) {
        const r = await post(`${api.url}/ingest/message/Order`, order(id), auth);
        assert.equal(r.status, 202);
        ids.push(r.body.message_id as string);
      }
      await waitForStatus(env.sql, ids, "completed");

      // A wrong key is refused in the API's words; the read key shows the figures.
      await page.fill("[data-testid=key-input]", "not-a-key-0123456789");
      await page.click("[data-testid=key-save]");
      await page.waitForFunction(() =>
        document.querySelector("[data-testid=key-reason]")?.textContent?.includes("not valid")
      );
      await page.fill("[data-testid=key-input]", keys.read);
      await page.click("[data-testid=key-save]");
      await page.waitForSelector('[data-testid=conn][data-state="live"]');
      assert.equal(await page.locator("[data-testid=key-prompt]").isHidden(), true);
      await waitText(page, '[data-entity="Order"] [data-count="completed"] .v', "2");

      // A dead letter: listed and opened without its row values; replaying it needs dlq, and the page says so.
      await env.sql`ALTER TABLE orders ADD CONSTRAINT dashboard_key_total CHECK (total < 1000)`;
      const bad = await post(`${api.url}/ingest/message/Order`, order("SO-SECRET", "5000.00"), auth);
      const badId = bad.body.message_id as string;
      await waitForStatus(env.sql, badId, "dlq");
      await page.click('[data-tab="dlq"]');
      const row = `[data-testid=dlq-row][data-id="${badId}"]`;
      await page.waitForSelector(row);
      const listed = await page.locator(row).textContent() ?? "";
      assert.match(listed, /23514|dashboard_key_total/);
      assert.doesNotMatch(listed, /SO-SECRET|5000/, "no row value for a read key");
      await page.click(row);
      await page.waitForSelector("[data-testid=dlq-message]");
      assert.match(
        await page.locator("[data-testid=dlq-message]").textContent() ?? "",
        /needs a key with the dlq/,
      );
      await page.click("[data-testid=dlq-replay]");
      await page.waitForSelector("[data-testid=dlq-notice].error");
      assert.match(
        await page.locator("[data-testid=dlq-notice]").textContent() ?? "",
        /403: this key lacks the scope dlq/,
      );
      assert.equal(
        (await env.sql`SELECT status FROM nomnom.messages WHERE message_id = ${badId}`)[0].status,
        "dlq",
      );

      // Forget: the key leaves the tab's storage (there never was a cookie) and the page asks again.
      assert.equal(await page.evaluate(() => document.cookie), "");
      await page.click("[data-testid=key-forget]");
      await page.waitForSelector("[data-testid=key-prompt]:not([hidden])");
      assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    });
  },
});

Deno.test({
  name: "Swagger UI: Authorize takes an API key and Try it out sends it; the key is not stored",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using dir = await createTempDir();
    const key = "docs-read-key-0123456789";
    const file = join(dir.path, "keys.yaml");
    await writeFile(file, `- {name: docs, key: ${key}, scopes: [read]}\n`);
    await using env = await createTestEnv({ flags: [`--api-keys-file=${file}`] });
    const api = await env.start("all");
    const browser = await chromium.launch(CHROMIUM);
    try {
      const page = await browser.newPage();
      await page.goto(`${api.url}/docs`);
      const stats = page.locator("#operations-operations-stats");
      /** Execute GET /stats from the page; the status and Authorization header of the request it sent. */
      const tryIt = async () => {
        const answer = page.waitForResponse((r) => new URL(r.url()).pathname === "/stats");
        await stats.locator(".execute").click();
        const r = await answer;
        return [r.status(), r.request().headers().authorization ?? null];
      };
      await stats.locator(".opblock-summary").click();
      await stats.locator(".try-out__btn").click();
      assert.deepEqual(await tryIt(), [401, null], "without a key");

      await page.click(".auth-wrapper .btn.authorize");
      const bearer = page.locator(".auth-container").filter({ hasText: "bearerAuth" });
      await bearer.locator("input").fill(key);
      await bearer.locator("button.authorize").click();
      await page.click(".auth-btn-wrapper .btn-done");
      assert.deepEqual(await tryIt(), [200, `Bearer ${key}`], "with the key from Authorize");

      assert.equal(await page.evaluate(() => document.cookie), "");
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
      assert.doesNotMatch(stored, new RegExp(key));
    } finally {
      await browser.close();
    }
  },
});
