/**
 * The few error kinds callers branch on. Each keeps `cause`; messages say what happened and what to do.
 */

/** A bad flag or environment value: printed as one line, exit code 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** An entity YAML problem: names the file, the entity and the key. Exit code 1 from `validate`. */
export class EntityDefinitionError extends Error {
  override name = "EntityDefinitionError";
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join("\n  ")}`);
  }
}

/** One failing field of a message: the path (dotted) and why. */
export type FieldIssue = { field: string; message: string };

/** A message that does not satisfy its entity: 422 at the API, dead-letter at once in the worker. */
export class PayloadError extends Error {
  override name = "PayloadError";
  constructor(readonly entity: string, readonly issues: FieldIssue[]) {
    super(`${entity}: ${issues.map((i) => `${i.field || "(message)"}: ${i.message}`).join("; ")}`);
  }
}

/** A failure worth retrying later (connection lost, deadlock, serialization failure, timeout). */
export class TransientError extends Error {
  override name = "TransientError";
}
