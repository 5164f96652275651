/**
 * Validation of a message against its entity and extraction of its derived instances (pure). The API runs it
 * before publishing (so a bad line item is a 422, never a queued message) and the worker runs it again before
 * writing (the entity may have changed since).
 */
import type { FieldIssue } from "../errors.ts";
import { PayloadError } from "../errors.ts";
import { createKeyOf } from "./key.ts";
import type { Entity, Field, Registry, Source, Transform } from "./types.ts";

/**
 * One row-to-be of an entity: its field values, and its position among the message's instances of that entity.
 * `key` is its canonical key text (registry/key.ts) when the duplicate check computed it; the worker reuses it.
 */
export type Instance = { values: Record<string, unknown>; index: number; key?: string };

/** A validated message: the root instance and every derived instance, by entity name. */
export type DecodedMessage = {
  entity: Entity;
  root: Record<string, unknown>;
  derived: Map<string, Instance[]>;
};

/**
 * Validate `body` (already JSON-parsed) as a message of `entity` and derive its children. Throws PayloadError
 * naming every failing field, the root's and the derived entities' alike: when the root is invalid its children
 * are still derived from the raw body, except from the invalid fields themselves (one mistake, one issue).
 */
export function decodeMessage(registry: Registry, entity: Entity, body: unknown): DecodedMessage {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new PayloadError(entity.name, [{ field: "", message: "a message must be a JSON object" }]);
  }
  const issues: FieldIssue[] = [];
  const result = entity.parseValues!(body as Record<string, unknown>);
  let root = body as Record<string, unknown>;
  let rootInvalid: Set<string> | undefined;
  if (result.success) root = result.data;
  else {
    rootInvalid = new Set();
    for (const i of result.error.issues) {
      issues.push({ field: i.path.map(String).join("."), message: i.message });
      rootInvalid.add(String(i.path[0] ?? ""));
    }
  }
  const derived = new Map<string, Instance[]>();
  const rejected = new Set<Instance>(); // invalid instances: their keys mean nothing, so no duplicate check
  const walk = (
    parent: Entity,
    values: Record<string, unknown>,
    invalid: Set<string> | undefined,
    ctx: Context,
  ) => {
    for (const childName of parent.children) {
      const child = registry.entities.get(childName)!;
      // Positions count the message's instances of the entity, over all parents: (message id, position) is the
      // key of an entity without unicity fields, so it must be unique within the message.
      const list = derived.get(childName) ?? [];
      derived.set(childName, list);
      const ancestors = { ...ctx.ancestors, [parent.name]: values };
      const invalidAncestors = invalid || ctx.invalidAncestors
        ? { ...ctx.invalidAncestors, [parent.name]: invalid ?? NONE }
        : undefined;
      const add = (inner: Context) => {
        const instance = computeInstance(child, inner, issues);
        const item = { values: instance.values, index: list.length };
        list.push(item);
        if (instance.invalid) rejected.add(item);
        walk(child, instance.values, instance.invalid, inner);
      };
      if (child.repeatedFor) {
        const field = child.repeatedFor.field;
        if (invalid?.has(field)) continue; // the array itself is already reported
        const raw = values[field];
        if (raw === null || raw === undefined) continue;
        if (!Array.isArray(raw)) {
          issues.push({ field: ctx.location + field, message: "must be an array" });
          continue;
        }
        raw.forEach((element, i) =>
          add({
            location: `${ctx.location}${field}[${i}].`,
            bindings: { ...ctx.bindings, [child.repeatedFor!.as]: element },
            ancestors,
            invalidAncestors,
            element,
          })
        );
      } else {
        add({ ...ctx, ancestors, invalidAncestors, element: values, elementInvalid: invalid });
      }
    }
  };
  walk(entity, root, rootInvalid, { location: "", bindings: {}, ancestors: {}, element: root });
  for (const [name, instances] of derived) {
    const valid = rejected.size > 0 ? instances.filter((i) => !rejected.has(i)) : instances;
    checkDuplicateKeys(registry.entities.get(name)!, valid, issues);
  }
  if (issues.length > 0) throw new PayloadError(entity.name, issues);
  return { entity, root, derived };
}

const NONE: ReadonlySet<string> = new Set();

type Context = {
  /** Where in the message the current instance comes from, e.g. `line_items[1].` */
  location: string;
  bindings: Record<string, unknown>;
  ancestors: Record<string, Record<string, unknown>>;
  /** The element (or parent instance) a field without computed_from takes its same-named key from. */
  element: unknown;
  /** Fields of each ancestor that failed validation (absent while every ancestor is valid). */
  invalidAncestors?: Record<string, ReadonlySet<string>>;
  /** Fields of `element` that failed validation, when it is the parent instance. */
  elementInvalid?: ReadonlySet<string>;
};

/**
 * The values of one instance, and, when it is invalid, its failing fields. Issues of fields computed from an
 * invalid ancestor field are not reported again (the ancestor's issue names the cause); those fields count as
 * invalid for the instance's own children.
 */
function computeInstance(
  entity: Entity,
  ctx: Context,
  issues: FieldIssue[],
): { values: Record<string, unknown>; invalid?: Set<string> } {
  const raw: Record<string, unknown> = {};
  let tainted: Set<string> | undefined; // fields computed from an invalid ancestor field
  for (const r of readersOf(entity)) {
    raw[r.field.name] = computeField(r, ctx);
    if ((ctx.invalidAncestors || ctx.elementInvalid) && fromInvalid(r.field, ctx)) {
      (tainted ??= new Set()).add(r.field.name);
    }
  }
  // Every source valid: the values are checked where they are (createInstanceCheck), no copy and no zod.
  if (!ctx.invalidAncestors && !ctx.elementInvalid && entity.checkInstance?.(raw)) return { values: raw };
  const checked = entity.parseValues!(raw);
  if (!checked.success) {
    const invalid = new Set(tainted);
    for (const issue of checked.error.issues) {
      const name = String(issue.path[0] ?? "");
      invalid.add(name);
      if (tainted?.has(name)) continue;
      const field = entity.fields.find((f) => f.name === name);
      issues.push({ field: ctx.location + (field ? fieldPath(field) : name), message: issue.message });
    }
    return { values: raw, invalid };
  }
  const values = checked.data;
  for (const field of entity.fields) values[field.name] ??= null; // a missing nullable field is stored as NULL
  return { values, invalid: tainted };
}

/** True when `field`'s value comes from an ancestor field (or parent field) that failed validation. */
function fromInvalid(field: Field, ctx: Context): boolean {
  const cf = field.computedFrom;
  if (!cf) return ctx.elementInvalid?.has(field.name) ?? false;
  return cf.sources.some((s) => "entity" in s && (ctx.invalidAncestors?.[s.entity]?.has(s.field) ?? false));
}

const asObject = (v: unknown) =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;

/**
 * How a field's value is found, worked out once per field (readersOf): what computeField() would otherwise ask of
 * the field's transform, by name, for every field of every instance.
 */
type Reader = {
  field: Field;
  kind: ReadKind;
  sources: Source[];
  /** json_get_*: the key read from the source object; constant_value: unused. */
  key: string;
};

const enum ReadKind {
  Element,
  Copy,
  Constant,
  Coalesce,
  JsonGet,
  JsonOptionalString,
  JsonOptionalInt,
  JsonOptionalFloat,
}

const KINDS: Record<Transform, ReadKind> = {
  copy_field: ReadKind.Copy,
  constant_value: ReadKind.Constant,
  coalesce: ReadKind.Coalesce,
  json_get_string: ReadKind.JsonGet,
  json_get_int: ReadKind.JsonGet,
  json_get_float: ReadKind.JsonGet,
  json_get_optional_string: ReadKind.JsonOptionalString,
  json_get_optional_int: ReadKind.JsonOptionalInt,
  json_get_optional_float: ReadKind.JsonOptionalFloat,
};

const readers = new WeakMap<Entity, Reader[]>();

/** The readers of `entity`'s fields, in field order (made on first use; entities are frozen). */
function readersOf(entity: Entity): Reader[] {
  let list = readers.get(entity);
  if (!list) {
    list = entity.fields.map((field) => ({
      field,
      kind: field.computedFrom ? KINDS[field.computedFrom.transform] : ReadKind.Element,
      sources: field.computedFrom?.sources ?? [],
      key: field.computedFrom?.transform.startsWith("json_get") ? jsonKey(field) : field.name,
    }));
    readers.set(entity, list);
  }
  return list;
}

/**
 * The value of a field in the instance `ctx` describes. Called for every field of every instance of every
 * message (API and worker): no closure or result object per call, and where the value came from (for an issue)
 * is `fieldPath()`, asked only when the field fails.
 */
function computeField(r: Reader, ctx: Context): unknown {
  switch (r.kind) {
    case ReadKind.Element:
      return asObject(ctx.element)?.[r.key];
    case ReadKind.Copy:
      return sourceValue(r.sources[0], ctx);
    case ReadKind.Constant:
      return r.field.computedFrom!.args.value;
    case ReadKind.Coalesce:
      for (const s of r.sources) {
        const v = sourceValue(s, ctx);
        if (v != null) return v;
      }
      return null;
    case ReadKind.JsonGet:
      return asObject(sourceValue(r.sources[0], ctx))?.[r.key];
    case ReadKind.JsonOptionalString: {
      const v = asObject(sourceValue(r.sources[0], ctx))?.[r.key];
      return typeof v === "string" ? v : null;
    }
    case ReadKind.JsonOptionalInt: {
      const v = asObject(sourceValue(r.sources[0], ctx))?.[r.key];
      return Number.isInteger(v) ? v : null;
    }
    case ReadKind.JsonOptionalFloat: {
      const v = asObject(sourceValue(r.sources[0], ctx))?.[r.key];
      return typeof v === "number" ? v : null;
    }
  }
}

function sourceValue(s: Source | undefined, ctx: Context): unknown {
  if (!s) return undefined;
  return "binding" in s ? ctx.bindings[s.binding] : ctx.ancestors[s.entity]?.[s.field];
}

/** The key a json_get_* field reads from its source object: `args.field`, else the field's own name. */
const jsonKey = (field: Field) =>
  typeof field.computedFrom!.args.field === "string" ? field.computedFrom!.args.field : field.name;

/** Where in the message a field's value comes from, relative to its instance: the JSON key it was read from. */
function fieldPath(field: Field): string {
  return field.computedFrom?.transform.startsWith("json_get") ? jsonKey(field) : field.name;
}

function checkDuplicateKeys(entity: Entity, instances: Instance[], issues: FieldIssue[]): void {
  const storage = entity.storage;
  if (!storage?.naturalKey || instances.length < 2) return;
  const keyOf = createKeyOf(entity); // 5 and "5" are one bigint key to PostgreSQL, so they are one here
  const seen = new Map<string, number>();
  for (const instance of instances) {
    const key = keyOf(instance.values);
    instance.key = key;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({
        field: entity.repeatedFor?.field ?? entity.name,
        message: `${entity.name} #${first + 1} and #${instance.index + 1} have the same key ` +
          `(${storage.key.map((k) => `${k}=${JSON.stringify(instance.values[k])}`).join(", ")})`,
      });
    } else seen.set(key, instance.index);
  }
}
