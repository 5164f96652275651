import assert from "node:assert/strict";
import { createLogger, redact, rememberSecrets, urlSecrets } from "./log.ts";

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

Deno.test("redact() hides tokens, and passwords holding @, %40, commas or colons, in URLs and URL lists", () => {
  assert.equal(redact("nats://tok3nS3cret@h1:4222"), "nats://***@h1:4222");
  assert.equal(redact("tls://tok3nS3cret@h1:4222"), "tls://***@h1:4222");
  assert.equal(redact("postgres://p@ss@db/x"), "postgres://p@ss@db/x"); // a user name, no password
  assert.equal(redact("postgres://u:p@ss@db/x"), "postgres://u:***@db/x");
  assert.equal(redact("postgres://u:p%40ss@db/x"), "postgres://u:***@db/x");
  assert.equal(redact("nats://u:a,b:c@h1,nats://v:d@e,f@h2"), "nats://u:***@h1,nats://v:***@h2");
  assert.equal(
    redact("Cannot connect to NATS at nats://u:p:q@h: refused"),
    "Cannot connect to NATS at nats://u:***@h: refused",
  );
});

Deno.test("redact() hides remembered secrets by value, whatever characters they hold", () => {
  rememberSecrets("pa ss,w@rd", "x");
  assert.equal(redact("auth failed for 'pa ss,w@rd'"), "auth failed for '***'");
  assert.equal(redact("dsn postgres://u:pa%20ss%2Cw%40rd@db"), "dsn postgres://u:***@db");
  assert.equal(redact("x marks"), "x marks");
  assert.deepEqual(urlSecrets("nats://u:a,b@h1,nats://tok@h2 postgres://u@db"), ["a,b", "tok"]);
});
