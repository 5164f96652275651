import assert from "node:assert/strict";
import { createLogger, redact } from "./log.ts";

Deno.test("redact() hides every password: in URLs, in comma-separated NATS lists and in query parameters", () => {
  assert.equal(
    redact("nats://u:p1@h1:4222,nats://u2:p2@h2:4222, u3:p3@h3"),
    "nats://u:***@h1:4222,nats://u2:***@h2:4222, u3:***@h3",
  );
  assert.equal(
    redact("postgres://user:s3cr%40t@db:5432/x?sslmode=require&password=hunter2&sslpassword=k"),
    "postgres://user:***@db:5432/x?sslmode=require&password=***&sslpassword=***",
  );
  assert.equal(redact("postgres://user@db/x"), "postgres://user@db/x");
});

Deno.test("the logger redacts passwords in the message, in fields, in nested fields and in errors", () => {
  const lines: string[] = [];
  const log = createLogger("info", { url: "nats://a:one@h" }, (line) => lines.push(line));
  log.info("connecting to postgres://u:two@db/x", {
    servers: ["nats://b:three@h1", "nats://c:four@h2"],
    nested: { dsn: "postgres://db/x?password=five" },
    error: new Error("cannot reach postgres://u:six@db"),
  });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0], /one|two|three|four|five|six/);
  assert.match(lines[0], /postgres:\/\/u:\*\*\*@db\/x/);
});

Deno.test("createLogger() writes JSON lines or one readable line per event", () => {
  const lines: string[] = [];
  createLogger("info", { role: "api" }, (l) => lines.push(l), "json").info("hello", { n: 1 });
  createLogger("info", { role: "api" }, (l) => lines.push(l), "pretty").info("hello", { n: 1 });
  assert.deepEqual(Object.keys(JSON.parse(lines[0])), ["time", "level", "msg", "role", "n"]);
  assert.match(lines[1], /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello role=api n=1$/);
});
