/** Asking the person at the terminal before something that cannot be undone (`vrsky dlq purge`). */
import { createInterface } from "node:readline";
import { VrskyError } from "../errors/errors.js";
import type { Stream } from "./output.js";

/**
 * True when the user typed `y` or `yes`. Without a terminal on standard input there is no one to ask: VRS_USAGE,
 * telling to pass `flag` (the caller skips asking when it was given).
 */
export async function confirm(question: string, prompt: Stream, flag: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new VrskyError("VRS_USAGE", `${question.replace(/\?$/, "")}: pass ${flag} (no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    prompt.write(`${question} [y/N] `);
    const answer = await new Promise<string>((resolve) => {
      rl.once("line", resolve);
      rl.once("close", () => resolve(""));
    });
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
