import assert from "node:assert/strict";
import { checkDlqFilter, type DlqFilter, DlqFilterError } from "./dead_letters.ts";

Deno.test("checkDlqFilter() rejects what PostgreSQL would fail on, naming the parameter", () => {
  const b64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const id = "0190f3c2-7b1e-7000-8000-000000000000";
  const cases: [Record<string, unknown>, string][] = [
    [{ since: "garbage" }, "since"],
    [{ until: "99999-01-01" }, "until"],
    [{ entity: "a\0b" }, "entity"],
    [{ error: 5 }, "error"],
    [{ cursor: "not base64!" }, "cursor"],
    [{ cursor: b64url(`x|${id}`) }, "cursor"],
    [{ cursor: b64url(`2026-02-30 00:00:00+00|${id}`) }, "cursor"],
    [{ cursor: b64url(`2026-01-01 00:00:00+00|nope`) }, "cursor"],
  ];
  for (const [filter, parameter] of cases) {
    assert.throws(
      () => checkDlqFilter(filter as DlqFilter, filter.cursor as string | undefined),
      (e: Error) =>
        e instanceof DlqFilterError && e.parameter === parameter && e.message.startsWith(`"${parameter}"`),
      JSON.stringify(filter),
    );
  }
  checkDlqFilter({ since: "2026-01-01", until: "2026-01-02T03:04:05Z", entity: "Order", error: "x" });
  checkDlqFilter({}, b64url(`2026-01-02 03:04:05.123456+00|${id}`));
  checkDlqFilter({}, b64url(`2026-01-02 03:04:05+05:30|${id}`));
});
