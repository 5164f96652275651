/**
 * The HTTP listener: the one runtime-specific edge of the API. Deno.serve on Deno, Bun.serve on Bun (both take
 * a fetch handler, which is what Hono exposes). The client's socket address is handed to the handler as
 * `env.remoteAddress` (Hono's `c.env`) on both runtimes, so the app itself never asks which runtime it is on.
 */

/** What the listener hands the app with each request (Hono's `c.env`). */
export type ConnEnv = { remoteAddress?: string };

type FetchHandler = (request: Request, env: ConnEnv) => Response | Promise<Response>;

/** A listening server: the port it got, and how to stop it (in-flight requests finish first). */
export type HttpServer = { port: number; close(): Promise<void> };

type BunServer = {
  port: number;
  stop(force?: boolean): Promise<void>;
  requestIP(request: Request): { address: string } | null;
};

/** Listen on host:port (port 0 picks a free one). */
export function serveHttp(fetch: FetchHandler, host: string, port: number): Promise<HttpServer> {
  const bun = (globalThis as { Bun?: { serve(options: unknown): BunServer } }).Bun;
  if (bun) {
    const server = bun.serve({
      hostname: host,
      port,
      fetch: (request: Request, self: BunServer) =>
        fetch(request, { remoteAddress: self.requestIP(request)?.address }),
    });
    return Promise.resolve({ port: server.port, close: () => server.stop(false) });
  }
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      onListen: (addr) => resolve({ port: (addr as Deno.NetAddr).port, close: () => server.shutdown() }),
    }, (request, info) => fetch(request, { remoteAddress: (info.remoteAddr as Deno.NetAddr).hostname }));
  });
}
