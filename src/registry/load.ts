/**
 * Entity YAML → Registry. `createRegistry()` is pure (file texts in, frozen registry or EntityDefinitionError
 * out) and reports every problem at once, each naming the file, the entity and the key.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { EntityDefinitionError } from "../errors.ts";
import { suggest } from "../suggest.ts";
import { describeUnknownType, isScalar, parseFieldType } from "./field_types.ts";
import type { EntityDecl, FieldDecl } from "./format.ts";
import { createInstanceCheck, createMessageSchema, createValueParser } from "./message_schema.ts";
import {
  DERIVED_META_COLUMNS,
  isIdentifier,
  isMetaColumn,
  META_COLUMNS,
  type MetaColumn,
  pluralize,
  snakeCase,
} from "./names.ts";
import { parseEntityFile } from "./parse_file.ts";
import {
  type Column,
  type Entity,
  type Field,
  type Registry,
  type Source,
  type Transform,
  TRANSFORMS,
} from "./types.ts";

/** Read every `*.yaml`/`*.yml` of `dir` and build the registry. */
export async function loadRegistry(dir: string): Promise<Registry> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (error) {
    throw new EntityDefinitionError([
      `Cannot read entities folder "${dir}": ${
        (error as Error).message
      }. Point --entities (NOMNOM_ENTITIES) at it.`,
    ]);
  }
  if (names.length === 0) {
    throw new EntityDefinitionError([`No entity files (*.yaml, *.yml) in "${dir}".`]);
  }
  const files = await Promise.all(
    names.map(async (name) => ({ path: join(dir, name), text: await readFile(join(dir, name), "utf8") })),
  );
  return createRegistry(files);
}

type Draft = { decl: EntityDecl; file: string };

const META_COLUMN_NAMES = [...Object.keys(META_COLUMNS), ...Object.keys(DERIVED_META_COLUMNS)].join(", ");

/** Build the registry from file texts. Throws EntityDefinitionError listing every problem. */
export function createRegistry(files: { path: string; text: string }[]): Registry {
  const problems: string[] = [];
  const drafts = new Map<string, Draft>();
  const byLowerName = new Map<string, Draft>();

  // Entities whose file was unusable: others that name them must not report them missing as well.
  const broken = new Set<string>();
  for (const { path, text } of files) {
    const parsed = parseEntityFile(path, text);
    problems.push(...parsed.problems);
    if (!parsed.decl) {
      if (parsed.name) broken.add(parsed.name);
      if (parsed.partial) {
        const name = parsed.partial.name;
        checkFields(
          parsed.partial,
          (what) => problems.push(`Cannot load entity "${name}" from "${path}": ${what}`),
        );
      }
      continue;
    }
    const decl = parsed.decl;
    if (decl.abstract) continue;
    const previous = drafts.get(decl.name);
    if (previous) {
      problems.push(
        `Cannot load entity "${decl.name}" from "${path}": already defined in "${previous.file}"`,
      );
      continue;
    }
    const sameButCase = byLowerName.get(decl.name.toLowerCase());
    if (sameButCase) {
      problems.push(
        `Cannot load entity "${decl.name}" from "${path}": "${sameButCase.decl.name}" in "${sameButCase.file}" ` +
          `differs only by case (entity names must differ by more than case: they name tables, routes and subjects)`,
      );
      continue;
    }
    const draft = { decl, file: path };
    drafts.set(decl.name, draft);
    byLowerName.set(decl.name.toLowerCase(), draft);
  }

  const entities = new Map<string, Entity>();
  for (const draft of drafts.values()) {
    const entity = resolveEntity(draft, drafts, broken, problems);
    if (entity) entities.set(entity.name, entity);
  }
  const ordered = orderParentsFirst(entities, drafts, problems);
  checkTables(ordered, problems);
  if (problems.length > 0) throw new EntityDefinitionError(problems);

  for (const entity of ordered) {
    if (entity.parent) entities.get(entity.parent)!.children.push(entity.name);
  }
  for (const entity of ordered) {
    entity.messageSchema = createMessageSchema(entity);
    entity.parseValues = createValueParser(entity, entity.messageSchema);
    if (entity.kind === "derived") entity.checkInstance = createInstanceCheck(entity);
  }
  const map = new Map(ordered.map((e) => [e.name, e]));
  for (const entity of ordered) Object.freeze(entity);
  return Object.freeze({
    entities: map,
    ingestible: Object.freeze(ordered.filter((e) => e.kind !== "derived")),
    stored: Object.freeze(ordered.filter((e) => e.storage)),
  });
}

function resolveEntity(
  draft: Draft,
  drafts: Map<string, Draft>,
  broken: Set<string>,
  problems: string[],
): Entity | undefined {
  const { decl, file } = draft;
  const fail = (what: string) => problems.push(`Cannot load entity "${decl.name}" from "${file}": ${what}`);
  const before = problems.length;
  const kind = decl.source_type ?? decl.type ?? "root";

  let parent: string | undefined;
  let repeatedFor: Entity["repeatedFor"];
  if (kind === "derived") {
    if (decl.repeated_for && decl.parent && decl.parent !== decl.repeated_for.entity) {
      fail(`"parent" (${decl.parent}) and "repeated_for.entity" (${decl.repeated_for.entity}) disagree`);
    }
    if (decl.repeated_for) {
      const rf = decl.repeated_for;
      repeatedFor = { entity: rf.entity, field: rf.field, as: rf.each_known_as };
      parent = rf.entity;
      const parentDraft = drafts.get(rf.entity);
      const arrayField = parentDraft?.decl.fields.find((f) => f.name === rf.field);
      if (parentDraft && !arrayField) {
        fail(
          `repeated_for.field: "${rf.entity}" has no field "${rf.field}"${
            closest(rf.field, parentDraft.decl.fields)
          }`,
        );
      }
      const arrayType = arrayField && parseFieldType(arrayField.type);
      if (arrayType && !["list_object", "list_string", "json"].includes(arrayType)) {
        fail(`repeated_for.field: "${rf.entity}.${rf.field}" is ${arrayField!.type}, not a list`);
      }
    } else if (decl.parent) {
      parent = decl.parent;
    } else {
      fail(`a derived entity needs "repeated_for" or "parent"`);
    }
    if (parent && !drafts.has(parent) && !broken.has(parent)) {
      const known = [...drafts.keys()];
      fail(`parent entity "${parent}" is not defined (or is abstract)${suggest(parent, known, "") || ""}`);
    }
  } else if (decl.repeated_for || decl.parent) {
    fail(`"${decl.repeated_for ? "repeated_for" : "parent"}" is only allowed on a derived entity`);
  }

  const fields = checkFields(decl, fail);
  decl.fields.forEach((f, i) => {
    if (!f.computed_from) return;
    const at = `fields[${i}] "${f.name}"`;
    if (kind !== "derived") fail(`${at}: computed_from is only allowed in a derived entity`);
    fields[i].computedFrom = resolveComputed(f, at, decl, drafts, broken, fail);
  });

  const storage = decl.persistence ? resolveStorage(decl, fields, kind, fail) : undefined;
  if (problems.length > before) return undefined;
  return {
    name: decl.name,
    kind,
    doc: decl.doc,
    file,
    fields,
    repeatedFor,
    parent,
    storage,
    root: decl.name,
    children: [],
  };
}

/** `; did you mean order_id?` when one of `known` is close to the mistyped `name`, else "". */
function closest(name: string, known: readonly { name: string }[]): string {
  return suggest(name, known.map((k) => k.name));
}

/** Each field's name and type: the checks that need nothing but the field itself. */
function checkFields(decl: EntityDecl, fail: (what: string) => void): Field[] {
  const seen = new Set<string>();
  return decl.fields.map((f, i) => {
    const at = `fields[${i}] "${f.name}"`;
    if (!isIdentifier(f.name)) fail(`${at}: field names must be snake_case (a-z, 0-9, _)`);
    if (seen.has(f.name)) fail(`${at}: duplicate field name`);
    seen.add(f.name);
    const type = parseFieldType(f.type);
    if (!type) fail(`${at} has ${describeUnknownType(f.type)}`);
    return { name: f.name, type: type ?? "string", nullable: f.nullable, doc: f.doc };
  });
}

function resolveComputed(
  f: FieldDecl,
  at: string,
  decl: EntityDecl,
  drafts: Map<string, Draft>,
  broken: Set<string>,
  fail: (what: string) => void,
): Field["computedFrom"] {
  const cf = f.computed_from!;
  if (!(TRANSFORMS as readonly string[]).includes(cf.transform)) {
    fail(`${at}: unknown transform "${cf.transform}" (known: ${TRANSFORMS.join(", ")})`);
  }
  const bindings = ancestorBindings(decl, drafts);
  const sources: Source[] = cf.sources.map((s, j) => {
    if (typeof s === "string") {
      if (!bindings.has(s)) fail(`${at}: computed_from.sources[${j}] "${s}" is not bound by each_known_as`);
      return { binding: s };
    }
    const ancestor = drafts.get(s.source);
    // An entity whose file was unusable was already reported; what refers to it cannot be judged.
    if (broken.has(s.source) || ancestry(decl, drafts).some((name) => broken.has(name))) {
      return { entity: s.source, field: s.field };
    }
    if (!ancestor || !isAncestor(s.source, decl, drafts)) {
      fail(`${at}: computed_from.sources[${j}] entity "${s.source}" is not an ancestor of "${decl.name}"`);
    } else if (!ancestor.decl.fields.some((af) => af.name === s.field)) {
      fail(
        `${at}: computed_from.sources[${j}]: "${s.source}" has no field "${s.field}"${
          closest(s.field, ancestor.decl.fields)
        }`,
      );
    }
    return { entity: s.source, field: s.field };
  });
  const t = cf.transform;
  if (t.startsWith("json_get") && typeof cf.args.field !== "string") fail(`${at}: ${t} needs args.field`);
  if (t === "constant_value" && !("value" in cf.args)) fail(`${at}: constant_value needs args.value`);
  if (t !== "constant_value" && sources.length === 0) fail(`${at}: ${t} needs at least one source`);
  return { transform: t as Transform, sources, args: cf.args };
}

function ancestorBindings(decl: EntityDecl, drafts: Map<string, Draft>): Set<string> {
  const names = new Set<string>();
  for (let d: EntityDecl | undefined = decl, hops = 0; d && hops < 32; hops++) {
    if (d.repeated_for) names.add(d.repeated_for.each_known_as);
    const up: string | undefined = d.repeated_for?.entity ?? d.parent;
    d = up ? drafts.get(up)?.decl : undefined;
  }
  return names;
}

/** The names up the parent chain of `decl` (those that are declared or at least named). */
function ancestry(decl: EntityDecl, drafts: Map<string, Draft>): string[] {
  const names: string[] = [];
  for (let d: EntityDecl | undefined = decl, hops = 0; d && hops < 32; hops++) {
    const up: string | undefined = d.repeated_for?.entity ?? d.parent;
    if (up) names.push(up);
    d = up ? drafts.get(up)?.decl : undefined;
  }
  return names;
}

function isAncestor(name: string, decl: EntityDecl, drafts: Map<string, Draft>): boolean {
  for (let d: EntityDecl | undefined = decl, hops = 0; d && hops < 32; hops++) {
    const up: string | undefined = d.repeated_for?.entity ?? d.parent;
    if (up === name) return true;
    d = up ? drafts.get(up)?.decl : undefined;
  }
  return false;
}

function resolveStorage(
  decl: EntityDecl,
  fields: Field[],
  kind: Entity["kind"],
  fail: (what: string) => void,
): Entity["storage"] {
  const p = decl.persistence!;
  const table = p.database.conformant_table ?? pluralize(snakeCase(decl.name));
  if (!isIdentifier(table)) {
    fail(`persistence.database.conformant_table "${table}" is not a valid table name`);
  }
  const idColumn = p.database.conformant_id_column ?? p.primary_key?.name ?? "id";
  if (!isIdentifier(idColumn)) fail(`persistence.database.conformant_id_column "${idColumn}" is not valid`);

  let columns: Column[];
  if (p.field_overrides) {
    columns = p.field_overrides.map((o, i) => {
      const field = fields.find((f) => f.name === o.name);
      if (!field) {
        fail(
          `persistence.field_overrides[${i}]: "${o.name}" is not a field of the entity${
            closest(o.name, fields)
          }`,
        );
        return { name: o.name, type: "string", nullable: true };
      }
      const type = o.type === undefined ? field.type : parseFieldType(o.type);
      if (type !== field.type) {
        fail(`persistence.field_overrides[${i}] "${o.name}": type ${o.type} differs from the field's`);
      }
      // The stricter wins, in messages and in the table alike: a column declared NOT NULL must reject a message
      // without the value (422 at the API), not fail its write (23502 in the worker, DLQ).
      if (o.nullable === false) field.nullable = false;
      return { name: o.name, type: field.type, nullable: field.nullable && o.nullable !== false };
    });
  } else {
    columns = fields.filter((f) => isScalar(f.type)).map((f) => ({ ...f, doc: undefined }))
      .map(({ name, type, nullable }) => ({ name, type, nullable }));
  }
  // Once per name: a field declared twice is already reported as a duplicate.
  for (const name of new Set(columns.map((c) => c.name))) {
    if (name === idColumn) {
      fail(
        `column "${name}" collides with a column nomnom adds (the table's identity column "${idColumn}"): ` +
          `rename the field, or name that column with persistence.database.conformant_id_column`,
      );
    } else if (isMetaColumn(name)) {
      fail(`column "${name}" collides with a column nomnom adds (${META_COLUMN_NAMES}): rename the field`);
    }
  }

  const unicity = p.database.unicity_fields;
  if (unicity && unicity.length > 0) {
    for (const name of unicity) {
      const column = columns.find((c) => c.name === name);
      if (!column) {
        fail(
          `persistence.database.unicity_fields: "${name}" is not a stored column${
            closest(name, columns) || "."
          }` +
            ` Stored columns: ${columns.map((c) => c.name).join(", ") || "none"}.`,
        );
      } else if (column.nullable) {
        fail(
          `persistence.database.unicity_fields: "${name}" is nullable; key columns must be nullable: false`,
        );
      }
    }
    return { table, idColumn, columns, key: [...unicity], naturalKey: true };
  }
  // A derived entity can have several instances per message even without `repeated_for` (a singleton under a
  // repeated parent), so its rows are told apart by their position among the message's instances of the entity.
  const key: MetaColumn[] = kind === "derived" ? ["_message_id", "_index"] : ["_message_id"];
  return { table, idColumn, columns, key, naturalKey: false };
}

/** Parents before children (stable otherwise); rejects cycles. Also fills in each entity's root. */
function orderParentsFirst(
  entities: Map<string, Entity>,
  drafts: Map<string, Draft>,
  problems: string[],
): Entity[] {
  const out: Entity[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (e: Entity, chain: string[]): void => {
    if (state.get(e.name) === "done") return;
    if (state.get(e.name) === "visiting") {
      problems.push(`Cannot load entity "${e.name}" from "${e.file}": parent cycle ${chain.join(" → ")}`);
      return;
    }
    state.set(e.name, "visiting");
    const parent = e.parent ? entities.get(e.parent) : undefined;
    if (parent) {
      visit(parent, [...chain, parent.name]);
      e.root = parent.root;
    }
    state.set(e.name, "done");
    out.push(e);
  };
  for (const name of drafts.keys()) {
    const e = entities.get(name);
    if (e) visit(e, [e.name]);
  }
  return out;
}

function checkTables(entities: Entity[], problems: string[]): void {
  const owners = new Map<string, Entity>();
  for (const e of entities) {
    if (!e.storage) continue;
    const other = owners.get(e.storage.table);
    if (other) {
      problems.push(
        `Cannot load entity "${e.name}" from "${e.file}": table "${e.storage.table}" is also used by "${other.name}"`,
      );
    }
    owners.set(e.storage.table, e);
  }
}
