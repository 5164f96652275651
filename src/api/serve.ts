/**
 * The HTTP(S) listener: the one runtime-specific edge of the API. Deno.serve on Deno, Bun.serve on Bun (both take
 * a fetch handler, which is what Hono exposes, and a PEM certificate and key for HTTPS). The client's socket
 * address is handed to the handler as `env.remoteAddress` (Hono's `c.env`) on both runtimes, so the app itself
 * never asks which runtime it is on. No other import: tests run this file alone on Bun. Which certificate, and
 * whether HTTPS is on, is src/api/server_tls.ts.
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

/** A certificate (chain) and its private key, PEM. */
export type ServerTls = { cert: string; key: string };

/** Listen on host:port (port 0 picks a free one), over HTTPS with `tls`. */
export function serveHttp(
  fetch: FetchHandler,
  host: string,
  port: number,
  tls?: ServerTls,
): Promise<HttpServer> {
  const bun = (globalThis as { Bun?: { serve(options: unknown): BunServer } }).Bun;
  if (bun) {
    const server = bun.serve({
      hostname: host,
      port,
      ...(tls ? { tls } : {}),
      fetch: (request: Request, self: BunServer) =>
        fetch(request, { remoteAddress: self.requestIP(request)?.address }),
    });
    return Promise.resolve({ port: server.port, close: () => server.stop(false) });
  }
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      ...(tls ?? {}),
      onListen: (addr) => resolve({ port: (addr as Deno.NetAddr).port, close: () => server.shutdown() }),
    }, (request, info) => fetch(request, { remoteAddress: (info.remoteAddr as Deno.NetAddr).hostname }));
  });
}
