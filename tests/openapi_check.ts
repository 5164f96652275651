/**
 * Checks real answers against the OpenAPI document: the operation exists, the status is one it documents, and
 * a JSON body matches the documented schema. Validated by ajv as JSON Schema 2020-12 (what OpenAPI 3.1 uses),
 * against the document itself, so a route answering something the document does not say fails the test.
 */
import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";

type Json = Record<string, unknown>;
type Operation = { responses: Record<string, { content?: Record<string, { schema?: Json }> }> };

const DOCUMENT_ID = "nomnom:openapi";

/** JSON Pointer escaping of one token (RFC 6901). */
const pointer = (token: string) => token.replaceAll("~", "~0").replaceAll("/", "~1");

/** Returns `check(method, url, response)`, which fails the test when the answer is not what the document says. */
export function createResponseChecker(document: Json) {
  // formats are not checked (no ajv-formats); zod's date-time and uuid schemas carry patterns that are.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ ...structuredClone(document), $id: DOCUMENT_ID });
  const paths = document.paths as Record<string, Record<string, Operation>>;
  // Literal paths before templates: /dlq/replay is not /dlq/{message_id}.
  const templates = Object.keys(paths).sort((a, b) => Number(a.includes("{")) - Number(b.includes("{")));
  const find = (path: string) =>
    templates.find((t) =>
      new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{\w+\}/g, "[^/]+")}$`).test(path)
    );

  return async (method: string, url: string, response: Response): Promise<unknown> => {
    const path = new URL(url, "http://localhost").pathname;
    const template = find(path);
    assert.ok(template, `${method} ${path} is a documented path`);
    const operation = paths[template][method.toLowerCase()];
    assert.ok(operation, `${method} ${template} is a documented operation`);
    const status = String(response.status);
    assert.ok(operation.responses[status], `${method} ${template} documents status ${status}`);
    const type = response.headers.get("content-type")?.split(";")[0] ?? "";
    const documented = operation.responses[status].content?.[type];
    assert.ok(documented, `${method} ${template} ${status} documents content type ${type}`);
    if (type !== "application/json") return await response.text();
    const body = await response.json();
    const ref =
      `${DOCUMENT_ID}#/paths/${pointer(template)}/${method.toLowerCase()}/responses/${status}/content/` +
      `${pointer(type)}/schema`;
    const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    assert.ok(
      validate(body),
      `${method} ${path} ${status} matches the documented schema: ${ajv.errorsText(validate.errors)}\n` +
        JSON.stringify(body).slice(0, 2000),
    );
    return body;
  };
}
