/**
 * Written by `deno task pglite-template` (build/pglite_template.ts) with pgdata_template.tar.gz, a PGlite data
 * directory right after initdb. Do not edit: run that task again after upgrading @electric-sql/pglite.
 */
export const TEMPLATE_PGLITE_VERSION = "0.5.14";
export const TEMPLATE_POSTGRES_VERSION = "18.6";
