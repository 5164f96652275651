import assert from "node:assert/strict";
import { urlHost } from "./banner.ts";

Deno.test("urlHost() brackets IPv6 addresses and sends wildcard listeners to loopback", () => {
  assert.equal(urlHost("::1"), "[::1]");
  assert.equal(urlHost("fd00::2"), "[fd00::2]");
  assert.equal(urlHost("[::1]"), "[::1]");
  assert.equal(urlHost("::"), "127.0.0.1");
  assert.equal(urlHost("0.0.0.0"), "127.0.0.1");
  assert.equal(urlHost("localhost"), "localhost");
  assert.equal(new URL(`http://${urlHost("::1")}:8080/ready`).port, "8080", "a URL that parses");
});
