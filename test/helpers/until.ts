/**
 * Polls `check` every `everyMs` until it returns something other than undefined or false, and returns that.
 * After `timeoutMs` it throws `timed out after <ms> ms: <describe>` (describe is evaluated then, so it can show
 * the state that did not come about). For state that no event announces (a watched bucket, a process's log);
 * where an event exists, await the event instead.
 */
export async function until<R>(
  check: () => R | undefined | false | Promise<R | undefined | false>,
  timeoutMs: number,
  describe: string | (() => string),
  everyMs = 25,
): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await check();
    if (r !== undefined && r !== false) return r;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms: ${typeof describe === "string" ? describe : describe()}`);
    }
    await new Promise((res) => setTimeout(res, everyMs));
  }
}
