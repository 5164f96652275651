import assert from "node:assert/strict";
import { isMessageId, messageIdOf, sequenceMessageId } from "./message_id.ts";

Deno.test("a message id is a UUID, or seq-<n> for a message put on the stream without one; nothing a subject could widen", () => {
  assert.ok(isMessageId("0190f3c2-7b1e-7000-8000-000000000000"));
  assert.ok(isMessageId(sequenceMessageId(42)), "the name the worker gives a message without an id");
  for (
    const bad of [
      "",
      "seq-",
      "seq-0",
      "seq-1.2",
      "seq-*",
      ">",
      "*",
      "0190f3c2-7b1e-7000-8000-00000000000",
      "a.b",
    ]
  ) {
    assert.ok(!isMessageId(bad), bad);
  }
});

Deno.test("messageIdOf() names a message by its subject's id, or by its stream sequence when it came without one", () => {
  const id = "0190F3C2-7B1E-7000-8000-000000000000";
  assert.ok(isMessageId(id), "UUIDs in capitals too");
  assert.equal(messageIdOf(id, 7), id);
  assert.equal(messageIdOf("", 7), "seq-7");
  assert.ok(isMessageId(messageIdOf("", 7)));
});
