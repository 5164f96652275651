/** `promise`, or a rejection after `ms`: a probe or a figure must answer while a dependency hangs. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    ),
  ]).finally(() => clearTimeout(timer));
}
