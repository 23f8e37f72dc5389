import { expect } from "chai";
import { isVrskyError } from "../../engine/errors/errors.js";

/** The code of the VrskyError `fn` throws; fails the test when it throws something else or nothing. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isVrskyError(e)) return e.code;
    throw e;
  }
  throw new Error("did not throw");
}

/** `codeOf` for a promise. */
export async function asyncCodeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isVrskyError(e)) return e.code;
    throw e;
  }
  throw new Error("did not reject");
}

/**
 * A CLI run that failed as an operational error should: exit code 2, and on stderr exactly one line
 * `vrsky: <message> (<CODE>): <hint>`, never a stack trace or an internal error.
 */
export function expectCodedFailure(
  r: { code: number | null; stdout: string; stderr: string },
  code: string,
  what = "",
): void {
  const label = `${what}\nstderr: ${r.stderr}`;
  expect(r.code, label).to.equal(2);
  expect(r.stderr, label).to.match(new RegExp(`^vrsky: .+ \\(${code}\\): .+\\n$`));
  expect(r.stderr, label).not.to.match(/internal error|\n\s+at /);
  expect(r.stdout, label).to.equal("");
}
