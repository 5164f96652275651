/**
 * Entry point of the compiled binary (`deno task build:bun`, i.e. `bun build --compile`). It embeds what nomnom
 * reads from disk when it runs from source — PGlite's WebAssembly and data files, the data dir template (src/embedded/pgdata_template.tar.gz), and the example entities —
 * then starts main.ts. Swagger UI's files are embedded by src/api/docs.ts itself (text imports).
 */
import pgliteWasm from "../node_modules/@electric-sql/pglite/dist/pglite.wasm" with { type: "file" };
import initdbWasm from "../node_modules/@electric-sql/pglite/dist/initdb.wasm" with { type: "file" };
import pgliteData from "../node_modules/@electric-sql/pglite/dist/pglite.data" with { type: "file" };
import pgdataTemplate from "../src/embedded/pgdata_template.tar.gz" with { type: "file" };
import customer from "../entities/customer.yaml" with { type: "text" };
import order from "../entities/order.yaml" with { type: "text" };
import orderLineItem from "../entities/order_line_item.yaml" with { type: "text" };
import product from "../entities/product.yaml" with { type: "text" };

declare const Bun: { file(path: string): Blob };

/** The example entities, by file name (tests/binary_test.ts checks this list against entities/). */
export const EMBEDDED_ENTITIES = {
  "customer.yaml": customer,
  "order.yaml": order,
  "order_line_item.yaml": orderLineItem,
  "product.yaml": product,
};

const g = globalThis as Record<string, unknown>;
g.__NOMNOM_PGLITE__ = {
  assets: {
    wasm: Bun.file(pgliteWasm),
    initdb: Bun.file(initdbWasm),
    data: Bun.file(pgliteData),
    template: Bun.file(pgdataTemplate),
  },
  // The embedded database's thread is a second entry point of the build (deno.json build:bun); inside the
  // binary a relative Worker path names it.
  thread: "./src/embedded/postgres_thread.ts",
};
g.__NOMNOM_ENTITIES__ = Object.entries(EMBEDDED_ENTITIES).map(([name, text]) => ({ path: `entities/${name}`, text }));
await import("../main.ts");
