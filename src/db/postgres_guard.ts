/**
 * postgres.js 3.4.9 can throw from a deferred write after the server ended the connection (e.g. an admin
 * terminated the backend, or PostgreSQL restarted): `nextWrite` runs `socket.write` on a socket it has already
 * set to null. The throw escapes every promise (it comes from a timer), so unguarded it kills the process. The
 * connection is gone by then and its pending queries have already been rejected (CONNECTION_CLOSED), so the
 * right reaction is to ignore it; every other uncaught error still ends the process.
 */

/** True for the known postgres.js closed-socket race (and nothing else). */
export function isPostgresJsClosedSocketRace(error: unknown): boolean {
  return error instanceof TypeError &&
    /reading 'write'/.test(error.message) &&
    /nextWrite|connection\.js/.test(error.stack ?? "");
}
