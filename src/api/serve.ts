/**
 * The HTTP listener: the one runtime-specific edge of the API. Deno.serve on Deno, Bun.serve on Bun (both take
 * a fetch handler, which is what Hono exposes).
 */
type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A listening server: the port it got, and how to stop it (in-flight requests finish first). */
export type HttpServer = { port: number; close(): Promise<void> };

/** Listen on host:port (port 0 picks a free one). */
export function serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServer> {
  const bun = (globalThis as {
    Bun?: { serve(options: unknown): { port: number; stop(force?: boolean): Promise<void> } };
  })
    .Bun;
  if (bun) {
    const server = bun.serve({ hostname: host, port, fetch });
    return Promise.resolve({ port: server.port, close: () => server.stop(false) });
  }
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      onListen: (addr) => resolve({ port: (addr as Deno.NetAddr).port, close: () => server.shutdown() }),
    }, fetch);
  });
}
