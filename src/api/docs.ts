/**
 * The document's routes and Swagger UI, served from the `swagger-ui-dist` package's files, imported as text so
 * they travel inside a compiled binary (it works offline). Swagger UI's files are not API operations: they are
 * not in the document.
 */
import { Hono } from "hono";

/** Paths the docs routes serve that are Swagger UI's own files, not operations of the API (not documented). */
export const SWAGGER_ASSETS = [
  "/docs/assets/swagger-ui.css",
  "/docs/assets/swagger-ui-bundle.js",
  "/docs/assets/init.js",
];

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nomnom API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>`;
/**
 * "Authorize" takes an API key (the document's securitySchemes) and "Try it out" sends it. The key stays in the
 * page's memory only: persistAuthorization would keep it in localStorage, readable by any later script of this
 * origin; no cookie is ever set, so another site cannot make the browser send it (no CSRF).
 */
const INIT =
  `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: false });`;

/**
 * Swagger UI's files (1.5 MB of text), loaded on the first request for them rather than at start: evaluating
 * them cost every process, workers included, tens of milliseconds before /ready. Text imports, so that they
 * travel inside a compiled binary.
 */
let swagger: Promise<{ css: string; js: string }> | undefined;
function swaggerAssets() {
  swagger ??= Promise.all([
    import("swagger-ui-dist/swagger-ui.css", { with: { type: "text" } }),
    import("swagger-ui-dist/swagger-ui-bundle.js", { with: { type: "text" } }),
  ]).then(([css, js]) => ({ css: css.default as string, js: js.default as string }));
  return swagger;
}

/** Routes of the document and of Swagger UI (assets served locally: it works offline). */
export function createDocsRoutes(document: Record<string, unknown>): Hono {
  const app = new Hono();
  const immutable = "public, max-age=86400";
  app.get("/openapi.json", (c) => c.json(document));
  app.get("/api-docs/openapi.json", (c) => c.json(document));
  app.get("/docs", (c) => c.html(PAGE));
  app.get("/swagger-ui", (c) => c.html(PAGE));
  const [css, bundle, init] = SWAGGER_ASSETS;
  app.get(
    css,
    async (c) =>
      c.body((await swaggerAssets()).css, 200, { "Content-Type": "text/css", "Cache-Control": immutable }),
  );
  app.get(bundle, async (c) =>
    c.body((await swaggerAssets()).js, 200, {
      "Content-Type": "text/javascript",
      "Cache-Control": immutable,
    }));
  app.get(init, (c) => c.body(INIT, 200, { "Content-Type": "text/javascript" }));
  return app;
}
