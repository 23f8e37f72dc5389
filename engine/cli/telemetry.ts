import { createTelemetry, type Telemetry } from "../telemetry/telemetry.js";
import { packageVersion } from "../util/package-root.js";

/** The one Telemetry (metrics) of a command's process, labelled with the package's version. */
export function processTelemetry(): Telemetry {
  return createTelemetry({ version: packageVersion() });
}
