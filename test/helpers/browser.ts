/**
 * A real browser for the status page's tests: Debian's Chromium (`apt-get install chromium`; .ci/run installs
 * it) driven headless by playwright-core. `chromiumPath()` is undefined when no binary is found, and the tests
 * skip saying so.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export function chromiumPath(): string | undefined {
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
}

/** Signs in at `/login` through the form (as a person would; works without JavaScript) and lands on `/`. */
export async function signIn(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator("#key").fill(key);
  await Promise.all([page.waitForURL(`${base}/`), page.getByRole("button", { name: "Sign in" }).click()]);
}
