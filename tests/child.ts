/**
 * Child processes for tests: nomnom itself (from source or a compiled binary) and the servers tests run
 * privately. Output is captured, a log line is awaited as an event (no polling), and every error the helper
 * raises — a timeout, an exit before the awaited line, an unexpected exit code — quotes what the process wrote.
 * A child is AsyncDisposable: `await using` kills it (and shows its output) if the test did not end it itself.
 */
import { spawn } from "node:child_process";
import process from "node:process";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** The repository root, the working directory of children by default. */
export const ROOT = new URL("../", import.meta.url).pathname;

/**
 * How long a child may take to log a line or to exit before the test gives up. Generous: on a loaded 2-core
 * machine the demo's PGlite alone took 20-40 s to start (and a demo that must fail waits for it).
 */
const WAIT_MS = 120_000;

/** How much of each stream an error message quotes (the end, where the reason usually is). */
const QUOTED_CHARS = 4000;

export type ChildOptions = {
  env?: Record<string, string>;
  cwd?: string;
  /** Lead a process group of its own, as a command started from a terminal does. */
  detached?: boolean;
  /** Standard input, written and closed at start. */
  input?: string;
};

/** How a child ended: its exit code, or the signal that killed it. */
export type Exit = number | NodeJS.Signals;

export type Child = AsyncDisposable & {
  readonly name: string;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Both streams, labelled and cut to their last few thousand characters, for assertion messages. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited and its output is read. */
  readonly exited: Promise<Exit>;
  /**
   * Resolves with the first match of `pattern` in stderr (or `stream`), as soon as it is written. Rejects when the
   * process exits first or after `timeoutMs`, quoting its output.
   */
  waitForLog(
    pattern: RegExp,
    options?: { stream?: "stdout" | "stderr"; timeoutMs?: number },
  ): Promise<RegExpMatchArray>;
  /** Send `signal` (to the whole process group with `group`, which needs `detached`). */
  signal(signal: NodeJS.Signals, options?: { group?: boolean }): void;
  /** Send `signal` (default SIGTERM) and resolve once exited; throws, quoting the output, unless it exits `expect`. */
  stop(signal?: NodeJS.Signals, expect?: Exit): Promise<void>;
  /** Wait for the exit; throws, quoting the output, unless it is `expect`. */
  expectExit(expect: Exit, timeoutMs?: number): Promise<void>;
};

/** Start `command` with `args`, capturing stdout and stderr. */
export function spawnChild(command: string, args: string[], options: ChildOptions = {}): Child {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    detached: options.detached ?? false,
    stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  const name = [command, ...args].join(" ").slice(0, 200);
  const text = { stdout: "", stderr: "" };
  const listeners = new Set<() => void>();
  for (const stream of ["stdout", "stderr"] as const) {
    child[stream]!.setEncoding("utf8").on("data", (chunk: string) => {
      text[stream] += chunk;
      for (const listener of listeners) listener();
    });
  }
  if (options.input !== undefined) child.stdin!.end(options.input);
  // "close", not "exit": the streams are fully read by then, so an error quotes the last words too.
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve(code ?? signal!));
  });
  let ended = false;
  exited.then(() => ended = true, () => ended = true);
  const tail = (s: string) => s.length > QUOTED_CHARS ? `…${s.slice(-QUOTED_CHARS)}` : s;
  const output = () =>
    `${name}\n--- stdout ---\n${tail(text.stdout) || "(empty)"}\n--- stderr ---\n${
      tail(text.stderr) || "(empty)"
    }`;
  const signal = (sig: NodeJS.Signals, o: { group?: boolean } = {}) => {
    // process.kill, not child.kill: under Deno the latter did not deliver a plain, single SIGTERM.
    if (!ended) process.kill(o.group ? -child.pid! : child.pid!, sig);
  };
  const expectExit = async (expect: Exit, timeoutMs = WAIT_MS) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${timeoutMs} ms passed without an exit`)), timeoutMs);
    });
    try {
      const exit = await Promise.race([exited, timeout]);
      if (exit !== expect) throw new Error(`exited ${exit}, expected ${expect}`);
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${output()}`);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name,
    pid: child.pid!,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    output,
    exited,
    signal,
    expectExit,
    async stop(sig = "SIGTERM", expect = 0) {
      signal(sig);
      await expectExit(expect);
    },
    waitForLog(pattern, { stream = "stderr", timeoutMs = WAIT_MS } = {}) {
      return new Promise((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined = undefined;
        const done = () => {
          listeners.delete(check);
          clearTimeout(timer);
        };
        const check = () => {
          const match = text[stream].match(pattern);
          if (match) {
            done();
            resolve(match);
          }
        };
        timer = setTimeout(() => {
          done();
          reject(new Error(`No ${pattern} in ${stream} within ${timeoutMs} ms: ${output()}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        exited.then((exit) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`Exited ${exit} before writing ${pattern} to ${stream}: ${output()}`));
        }, (error) => {
          done();
          reject(error);
        });
      });
    },
    async [Symbol.asyncDispose]() {
      if (ended) return;
      // Still running at the end of its test: the test failed before it stopped the child (or never meant to).
      // Its output is what explains a failure, so it is shown.
      signal("SIGKILL");
      await exited.catch(() => {});
      console.error(`[harness] killed ${output()}`);
    },
  };
}

/** Options of a nomnom child: a compiled binary instead of `deno run main.ts`. */
export type NomnomOptions = ChildOptions & { binary?: string };

/** Start nomnom with `args` (`deno run -A main.ts`, or `binary`). Its logs are JSON lines on stderr. */
export function startNomnom(args: string[], options: NomnomOptions = {}): Child {
  const { binary, ...rest } = options;
  const env = { LOG_FORMAT: "json", ...rest.env };
  return binary
    ? spawnChild(binary, args, { ...rest, env })
    : spawnChild(process.execPath, ["run", "-A", MAIN, ...args], { ...rest, env });
}

/** The result of a command run to its end. */
export type Ran = { code: Exit; stdout: string; stderr: string };

/** Run a command to its end (a CLI command, a build). */
export async function runChild(command: string, args: string[], options: ChildOptions = {}): Promise<Ran> {
  await using child = spawnChild(command, args, options);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Run nomnom with `args` to its end: `nomnom validate …`, `nomnom dlq …`, a start that must fail. */
export async function runNomnom(args: string[], options: NomnomOptions = {}): Promise<Ran> {
  await using child = startNomnom(args, options);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/**
 * The URL of the API a nomnom child serves, from its banner on stdout. Not from the "api listening" log line:
 * main.ts prints the banner after start-up and installs its SIGINT/SIGTERM handlers in the same tick, so a signal
 * sent once the banner is out is handled (one sent right after "api listening" could kill the process outright).
 */
export async function apiUrl(child: Child, timeoutMs = WAIT_MS): Promise<string> {
  return (await child.waitForLog(/API +(https?:\S+)/, { stream: "stdout", timeoutMs }))[1];
}
