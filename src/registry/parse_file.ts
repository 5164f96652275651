/**
 * One entity file → its declaration, or every problem of it. Structural problems (the zod format) are all
 * reported at once, each naming the valid keys or values. An unknown key is only reported: the file is checked
 * again without it, so that the rest of the entity (types, keys, parents) is still checked in the same run,
 * and a typo in one key never hides the others. Any other structural problem leaves the entity unusable: its
 * name is returned so that entities referring to it do not report it missing as well, and, when the file
 * parses without the invalid values, that `partial` declaration, whose fields can still be checked on their
 * own (an invalid `type:` of the entity must not hide a field's unknown type).
 */
import { parseDocument } from "yaml";
import { z } from "zod";
import { suggest } from "../suggest.ts";
import { type EntityDecl, EntityFileSchema } from "./format.ts";

/**
 * What a file declares: `decl` when usable, `name` when at least that could be read, `partial` when it is
 * unusable but parses without its invalid values.
 */
export type ParsedFile = { decl?: EntityDecl; partial?: EntityDecl; name?: string; problems: string[] };

/** Parse and check one entity file. Pure. */
export function parseEntityFile(path: string, text: string): ParsedFile {
  const doc = parseDocument(text);
  const raw = doc.toJS() as unknown;
  const name = entityName(raw);
  if (doc.errors.length > 0) {
    const first = doc.errors[0].message.split("\n")[0].replace(/:$/, "");
    return { name, problems: [`Cannot load "${path}": invalid YAML: ${first}`] };
  }
  const who = name ? `entity "${name}" from "${path}"` : `"${path}"`;
  const parsed = EntityFileSchema.safeParse(raw);
  if (parsed.success) return { decl: parsed.data.entity, name, problems: [] };
  const issues = parsed.error.issues;
  const problems = issues.map((issue) => `Cannot load ${who}: ${describeIssue(issue)}`);
  const again = EntityFileSchema.safeParse(withoutInvalid(raw, issues));
  const entity = again.success ? again.data.entity : undefined;
  if (issues.every((issue) => issue.code === "unrecognized_keys")) return { decl: entity, name, problems };
  return { partial: entity, name, problems };
}

function entityName(raw: unknown): string | undefined {
  const name = (raw as { entity?: { name?: unknown } } | null)?.entity?.name;
  return typeof name === "string" ? name : undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const at = formatPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    const known = knownKeys(issue.path);
    const where = at ? ` in ${at}` : "";
    return issue.keys.map((key) =>
      `unknown key "${key}"${where}${suggest(key, known, "") || "."} Keys${where || " here"}: ${
        known.join(", ")
      }.`
    ).join(" ");
  }
  return `${at || "(file)"}: ${issue.message}`;
}

/** The keys the format allows at `path` (an object of the schema). */
function knownKeys(path: PropertyKey[]): string[] {
  let schema: z.ZodType | undefined = EntityFileSchema;
  for (const key of path) schema = schema && child(unwrap(schema), key);
  const object = schema && unwrap(schema);
  return object instanceof z.ZodObject ? Object.keys(object.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodUnion) {
      s = (s.options as z.ZodType[]).find((o) => o instanceof z.ZodObject) ?? s;
      break;
    } else break;
  }
  return s;
}

function child(schema: z.ZodType, key: PropertyKey): z.ZodType | undefined {
  if (schema instanceof z.ZodObject) return schema.shape[key as string] as z.ZodType | undefined;
  if (schema instanceof z.ZodArray) return schema.element as z.ZodType;
  return undefined;
}

/**
 * A deep copy of `raw` without the unknown keys and the invalid values the issues name (a required value
 * removed makes the copy fail again: then nothing is usable).
 */
function withoutInvalid(raw: unknown, issues: z.core.$ZodIssue[]): unknown {
  const copy = structuredClone(raw);
  for (const issue of issues) {
    const unknownKeys = issue.code === "unrecognized_keys";
    const path = unknownKeys ? issue.path : issue.path.slice(0, -1);
    const keys = unknownKeys ? issue.keys : issue.path.slice(-1);
    let node = copy as Record<PropertyKey, unknown>;
    for (const key of path) node = node?.[key] as Record<PropertyKey, unknown>;
    for (const key of keys) if (node && typeof node === "object") delete node[key];
  }
  return copy;
}

/** `fields[1].type`, as the problems name a place in the file. */
export function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key),
    "",
  );
}
