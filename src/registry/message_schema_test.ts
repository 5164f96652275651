/**
 * The fast check in front of zod (createValueParser) must answer exactly as zod does: the same success, the same
 * data (keys, their order, values), the same issues. Compared over every field type and nullability with values
 * at and beyond each limit, then over many messages of the real entities mutated at random, then through
 * decodeMessage() (derived instances included).
 */
import assert from "node:assert/strict";
import { PayloadError } from "../errors.ts";
import { decodeMessage } from "./derive.ts";
import { FAST_CHECKS, FIELD_TYPES } from "./field_types.ts";
import { loadRegistry } from "./load.ts";
import {
  createInstanceCheck,
  createMessageSchema,
  createValueParser,
  type ValuesResult,
} from "./message_schema.ts";
import { createSampleMessage } from "./sample.ts";
import type { Entity, Registry } from "./types.ts";

const deep = (n: number): unknown => n === 0 ? "x" : { [`k${n}`]: [deep(n - 1)] };
const holes = [1, 2];
holes.length = 3; // [1, 2, <empty>]: every() skips the hole, zod does not

/** Values chosen at and beyond every rule of field_types.ts, for every type. */
const VALUES: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  -2.25,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 1,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  -Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER - 2,
  1e21,
  5e-324,
  Number.NaN,
  Infinity,
  -Infinity,
  JSON.parse("1e400"),
  "",
  "a",
  "héllo ☃ 😀",
  "a\u0000b",
  "\ud800",
  "x\udc00y",
  "\ud83d\ude00",
  "5",
  "-5",
  "05",
  " 5",
  "5 ",
  "+5",
  "1.",
  ".5",
  "1.5",
  "-0.0",
  "1e5",
  "1E-5",
  "1e+5",
  "1e",
  "abc",
  "123456789012345678",
  "-123456789012345678",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "-9223372036854775809",
  "9999999999999999999",
  "12345678901234567890",
  "1e1073741822",
  "1e1073741823",
  "1e-1073741823",
  "0e99999999999",
  "0." + "0".repeat(16_382) + "1",
  "0." + "0".repeat(16_383) + "1",
  "1" + "0".repeat(131_071),
  "1" + "0".repeat(131_072),
  "1e131071",
  "1e131072",
  "2026-11-23",
  "2024-02-29",
  "2025-02-29",
  "2025-02-30",
  "2025-13-01",
  "0000-01-01",
  "0001-01-01",
  "9999-12-31",
  "2026-1-1",
  "20261123",
  "2026-11-23T10:15:00Z",
  "2026-11-23T10:15:00",
  "2026-11-23T10:15",
  "2026-11-23T10:15Z",
  "2026-11-23T10:15:00.123Z",
  "2026-11-23T10:15:00.123456789+02:00",
  "2026-11-23T10:15:00+15:59",
  "2026-11-23T10:15:00-15:59",
  "2026-11-23T10:15:00+16:00",
  "2026-11-23T10:15:00+0200",
  "2026-11-23T10:15:00+02",
  "2026-11-23t10:15:00z",
  "2026-11-23 10:15:00Z",
  "2026-11-23T24:00:00Z",
  "2026-11-23T23:59:60Z",
  "2026-02-30T10:15:00Z",
  "0000-11-23T10:15:00Z",
  "0001-01-01T00:00:00Z",
  "2026-11-23T10:15:00.Z",
  {},
  { a: 1 },
  { a: "x\u0000" },
  { "k\ud800": 1 },
  { a: JSON.parse("1e400") },
  { a: [1, { b: null }] },
  deep(30),
  [],
  [{}],
  [{ a: 1 }, { b: [2] }],
  [{ a: "\u0000" }],
  [{}, null],
  [{}, []],
  ["a", "b"],
  ["a", 1],
  ["a\u0000"],
  ["\udfff"],
  [[]],
  holes,
  [1, "a", null, true],
  new Date(0),
];

function sameResult(input: unknown, fast: ValuesResult, slow: ValuesResult, what: string): void {
  assert.equal(fast.success, slow.success, `${what}: success`);
  if (fast.success && slow.success) {
    assert.deepStrictEqual(fast.data, slow.data, `${what}: data`);
    assert.deepEqual(Object.keys(fast.data), Object.keys(slow.data), `${what}: keys and their order`);
    for (const key of Object.keys(slow.data)) {
      const given = (input as Record<string, unknown>)[key];
      // zod hands objects on as they are and copies arrays: a caller may rely on either.
      assert.equal(fast.data[key] === given, slow.data[key] === given, `${what}: ${key} copied as zod does`);
    }
  } else {
    assert.deepStrictEqual(fast.error!.issues, slow.error!.issues, `${what}: issues`);
  }
}

const fakeEntity = (fields: Entity["fields"]) => ({ name: "T", fields }) as unknown as Entity;

Deno.test("createValueParser() answers as zod does for every type, nullability and value at the limits", () => {
  let accepted = 0;
  for (const type of FIELD_TYPES) {
    for (const nullable of [false, true]) {
      const entity = fakeEntity(
        [
          { name: "f", type, nullable },
          { name: "g", type: "string", nullable: true },
        ] as Entity["fields"],
      );
      const schema = createMessageSchema(entity);
      const parse = createValueParser(entity, schema);
      const inputs: Record<string, unknown>[] = [{}, { g: "x" }, { other: 1 }];
      for (const v of VALUES) inputs.push({ f: v }, { g: null, f: v, extra: v }, { f: v, g: undefined });
      for (const input of inputs) {
        const what = `${type}${nullable ? "?" : ""} ${Deno.inspect(input).slice(0, 80)}`;
        const slow = schema.safeParse(input);
        sameResult(input, parse(input), slow, what);
        if (slow.success) accepted++;
      }
    }
  }
  assert.ok(accepted > 300, `enough accepted values to mean something (${accepted})`);
});

Deno.test("createValueParser() leaves an entity with a field named like an Object.prototype member to zod", () => {
  const entity = fakeEntity([{ name: "constructor", type: "json", nullable: true }] as Entity["fields"]);
  const schema = createMessageSchema(entity);
  const parse = createValueParser(entity, schema);
  sameResult({}, parse({}), schema.safeParse({}), "constructor");
});

Deno.test("createInstanceCheck() never accepts what zod refuses but for text storability, and checks a constant in full", () => {
  for (const type of FIELD_TYPES) {
    for (const nullable of [false, true]) {
      const entity = fakeEntity([{ name: "f", type, nullable }] as Entity["fields"]);
      const check = createInstanceCheck(entity);
      const schema = createMessageSchema(entity);
      for (const [i, value] of VALUES.entries()) {
        const raw = { f: value };
        if (!check(raw)) {
          assert.deepStrictEqual(raw, { f: value }, `${type} value #${i}: unchanged when not sure`);
          continue;
        }
        // What a validated message can hold (storable strings and JSON) zod accepts too, as the check did.
        if (FAST_CHECKS.json(value) || value === undefined || value === null) {
          assert.ok(schema.safeParse({ f: value }).success, `${type} value #${i}: zod accepts it too`);
        }
        assert.ok(raw.f !== undefined || !nullable, `${type} value #${i}: a missing nullable field is null`);
      }
    }
  }
  const constant = fakeEntity(
    [{
      name: "c",
      type: "string",
      nullable: false,
      computedFrom: { transform: "constant_value", sources: [], args: { value: "a\u0000b" } },
    }] as Entity["fields"],
  );
  assert.equal(createInstanceCheck(constant)({ c: "a\u0000b" }), false);
  const copied = fakeEntity([{ name: "s", type: "string", nullable: false }] as Entity["fields"]);
  assert.equal(createInstanceCheck(copied)({ s: "a\u0000b" }), true, "read from a checked message: trusted");
});

const ENTITY_DIRS = [
  "../../entities/",
  "../../tests/fixtures/nomnom-tpch/entities/",
  "../../tests/fixtures/nested/",
]
  .map((dir) => new URL(dir, import.meta.url).pathname);

/** A small deterministic PRNG (mulberry32): a failure names its seed and reproduces. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `message` with a few of its keys (and of its array elements' keys) replaced by VALUES, removed or added. */
function mutate(message: unknown, rand: () => number, depth = 0): unknown {
  if (Array.isArray(message)) {
    const copy = message.map((e) => mutate(e, rand, depth + 1));
    if (rand() < 0.2) copy.push(copy.length > 0 ? structuredClone(copy[0]) : {});
    return copy;
  }
  if (typeof message !== "object" || message === null) return message;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    const r = rand();
    if (r < 0.08) continue; // missing
    if (r < 0.25) out[key] = VALUES[Math.floor(rand() * VALUES.length)];
    else out[key] = depth < 3 ? mutate(value, rand, depth + 1) : value;
  }
  if (rand() < 0.1) out.unknown_key = VALUES[Math.floor(rand() * VALUES.length)];
  return out;
}

/** `registry` with zod alone behind every entity: the behaviour before the fast check. */
function zodOnly(registry: Registry): Registry {
  const entities = new Map(
    [...registry.entities].map((
      [name, e],
    ) => [name, {
      ...e,
      parseValues: (input: Record<string, unknown>) => e.messageSchema!.safeParse(input),
      checkInstance: undefined,
    }]),
  );
  return { ...registry, entities };
}

function outcome(registry: Registry, entity: Entity, body: unknown): unknown {
  try {
    const decoded = decodeMessage(registry, entity, body);
    return { root: decoded.root, keys: Object.keys(decoded.root), derived: [...decoded.derived] };
  } catch (error) {
    if (error instanceof PayloadError) return { issues: error.issues };
    throw error;
  }
}

Deno.test("decodeMessage() with the fast check equals zod alone over thousands of mutated messages", async () => {
  let valid = 0, invalid = 0;
  for (const dir of ENTITY_DIRS) {
    const registry = await loadRegistry(dir);
    const slowRegistry = zodOnly(registry);
    const example = dir.includes("nomnom-tpch")
      ? JSON.parse(await Deno.readTextFile(dir + "../example_order.json"))
      : undefined;
    for (const entity of registry.ingestible) {
      const samples = [createSampleMessage(registry, entity)];
      if (example && entity.name === "Order") samples.push(example);
      for (let seed = 1; seed <= 1500; seed++) {
        const rand = random(seed);
        const sample = samples[seed % samples.length];
        const body = seed <= 20 ? sample : mutate(sample, rand);
        const what = `${dir} ${entity.name} seed ${seed}`;
        const fast = outcome(registry, entity, body);
        assert.deepStrictEqual(
          fast,
          outcome(slowRegistry, slowRegistry.entities.get(entity.name)!, body),
          what,
        );
        if ("issues" in (fast as object)) invalid++;
        else valid++;
        sameResult(
          body,
          entity.parseValues!(body as Record<string, unknown>),
          entity.messageSchema!.safeParse(body),
          what,
        );
      }
    }
  }
  assert.ok(valid > 500 && invalid > 500, `both outcomes well covered (${valid} valid, ${invalid} invalid)`);
});
