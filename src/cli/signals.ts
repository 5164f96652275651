/**
 * Telling a second Ctrl-C from the same Ctrl-C delivered twice. A terminal sends SIGINT to its whole foreground
 * process group, and wrappers in that group (`npx`, `deno task`) may forward the one they got to nomnom too:
 * under `npx deno task demo`, one press arrived as two SIGINTs 17 ms apart in about one try of three, and the
 * old rule "a second signal exits at once" killed the graceful stop, leaving the data dir's lock behind.
 * Counting presses instead of signals works whatever the number of wrappers: signals that follow each other
 * within SAME_PRESS_MS are one press.
 */

/** Signals closer together than this are one press of Ctrl-C (a person cannot press twice that fast on purpose). */
export const SAME_PRESS_MS = 1000;

/** What a signal means: start the graceful stop, the same press again (ignore), or a second press (exit now). */
export type SignalMeaning = "stop" | "repeat" | "force";

/** A function to call on each signal; it says what that signal means. */
export function createSignalTally(now: () => number = () => performance.now()): () => SignalMeaning {
  let last: number | undefined;
  return () => {
    const at = now();
    const previous = last;
    last = at;
    if (previous === undefined) return "stop";
    return at - previous < SAME_PRESS_MS ? "repeat" : "force";
  };
}
