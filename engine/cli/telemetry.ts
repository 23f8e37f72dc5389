import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { packageRoot } from "../util/package-root.js";

/** The one Telemetry of a command's process, labelled with the package's version. */
export function processTelemetry(): Telemetry {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
  return createTelemetry({ version: pkg.version });
}
