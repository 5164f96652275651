/**
 * Validation of a message against its entity and extraction of its derived instances (pure). The API runs it
 * before publishing (so a bad line item is a 422, never a queued message) and the worker runs it again before
 * writing (the entity may have changed since).
 */
import type { FieldIssue } from "../errors.ts";
import { PayloadError } from "../errors.ts";
import { createKeyOf } from "./key.ts";
import type { Entity, Field, Registry } from "./types.ts";

/** One row-to-be of an entity: its field values, and its position among the message's instances of that entity. */
export type Instance = { values: Record<string, unknown>; index: number };

/** A validated message: the root instance and every derived instance, by entity name. */
export type DecodedMessage = {
  entity: Entity;
  root: Record<string, unknown>;
  derived: Map<string, Instance[]>;
};

/** Validate `body` (already JSON-parsed) as a message of `entity` and derive its children. Throws PayloadError. */
export function decodeMessage(registry: Registry, entity: Entity, body: unknown): DecodedMessage {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new PayloadError(entity.name, [{ field: "", message: "a message must be a JSON object" }]);
  }
  const result = entity.messageSchema!.safeParse(body);
  if (!result.success) {
    throw new PayloadError(
      entity.name,
      result.error.issues.map((i) => ({ field: i.path.map(String).join("."), message: i.message })),
    );
  }
  const root = result.data;
  const issues: FieldIssue[] = [];
  const derived = new Map<string, Instance[]>();
  const walk = (parent: Entity, values: Record<string, unknown>, ctx: Context) => {
    for (const childName of parent.children) {
      const child = registry.entities.get(childName)!;
      const list = derived.get(childName) ?? [];
      derived.set(childName, list);
      if (child.repeatedFor) {
        const raw = values[child.repeatedFor.field];
        if (raw === null || raw === undefined) continue;
        if (!Array.isArray(raw)) {
          issues.push({ field: ctx.location + child.repeatedFor.field, message: "must be an array" });
          continue;
        }
        raw.forEach((element, i) => {
          const location = `${ctx.location}${child.repeatedFor!.field}[${i}]`;
          const inner: Context = {
            location: location + ".",
            bindings: { ...ctx.bindings, [child.repeatedFor!.as]: element },
            ancestors: { ...ctx.ancestors, [parent.name]: values },
            element,
          };
          const instance = computeInstance(child, inner, issues);
          list.push({ values: instance, index: list.length });
          walk(child, instance, inner);
        });
      } else {
        const inner: Context = {
          ...ctx,
          ancestors: { ...ctx.ancestors, [parent.name]: values },
          element: values,
        };
        const instance = computeInstance(child, inner, issues);
        list.push({ values: instance, index: list.length });
        walk(child, instance, inner);
      }
    }
  };
  walk(entity, root, { location: "", bindings: {}, ancestors: {}, element: root });
  for (const [name, instances] of derived) {
    checkDuplicateKeys(registry.entities.get(name)!, instances, issues);
  }
  if (issues.length > 0) throw new PayloadError(entity.name, issues);
  return { entity, root, derived };
}

type Context = {
  /** Where in the message the current instance comes from, e.g. `line_items[1].` */
  location: string;
  bindings: Record<string, unknown>;
  ancestors: Record<string, Record<string, unknown>>;
  /** The element (or parent instance) a field without computed_from takes its same-named key from. */
  element: unknown;
};

function computeInstance(entity: Entity, ctx: Context, issues: FieldIssue[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  let paths: Record<string, string> | undefined; // where a value came from, when not its field's name
  for (const field of entity.fields) {
    const { value, path } = computeField(field, ctx);
    raw[field.name] = value;
    if (path !== field.name) (paths ??= {})[field.name] = path;
  }
  const checked = entity.messageSchema!.safeParse(raw);
  if (!checked.success) {
    for (const issue of checked.error.issues) {
      const name = String(issue.path[0] ?? "");
      issues.push({ field: ctx.location + (paths?.[name] ?? name), message: issue.message });
    }
    return raw;
  }
  const values = checked.data;
  for (const field of entity.fields) values[field.name] ??= null; // a missing nullable field is stored as NULL
  return values;
}

const asObject = (v: unknown) =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined;

function computeField(field: Field, ctx: Context): { value: unknown; path: string } {
  const cf = field.computedFrom;
  if (!cf) return { value: asObject(ctx.element)?.[field.name], path: field.name };
  const sourceValue = (i: number) => {
    const s = cf.sources[i];
    if (!s) return undefined;
    return "binding" in s ? ctx.bindings[s.binding] : ctx.ancestors[s.entity]?.[s.field];
  };
  const key = typeof cf.args.field === "string" ? cf.args.field : field.name;
  switch (cf.transform) {
    case "copy_field":
      return { value: sourceValue(0), path: field.name };
    case "constant_value":
      return { value: cf.args.value, path: field.name };
    case "coalesce":
      return {
        value: cf.sources.map((_, i) => sourceValue(i)).find((v) => v != null) ?? null,
        path: field.name,
      };
    case "json_get_string":
    case "json_get_int":
    case "json_get_float":
      return { value: asObject(sourceValue(0))?.[key], path: key };
    case "json_get_optional_string":
    case "json_get_optional_int":
    case "json_get_optional_float": {
      const v = asObject(sourceValue(0))?.[key];
      const wanted = cf.transform.endsWith("string")
        ? typeof v === "string"
        : cf.transform.endsWith("int")
        ? Number.isInteger(v)
        : typeof v === "number";
      return { value: wanted ? v : null, path: key };
    }
  }
}

function checkDuplicateKeys(entity: Entity, instances: Instance[], issues: FieldIssue[]): void {
  const storage = entity.storage;
  if (!storage?.naturalKey || instances.length < 2) return;
  const keyOf = createKeyOf(entity); // 5 and "5" are one bigint key to PostgreSQL, so they are one here
  const seen = new Map<string, number>();
  for (const instance of instances) {
    const key = keyOf(instance.values);
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
