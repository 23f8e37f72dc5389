import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** The folder holding VRSky's package.json (works from engine/ sources and from the compiled dist/). */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "schemas"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the VRSky package root (package.json next to schemas/)");
    dir = up;
  }
  cached = dir;
  return dir;
}

/** VRSky's version (package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}
