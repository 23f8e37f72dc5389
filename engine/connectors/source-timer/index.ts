import { parseDuration } from "../../manifests/durations.js";
import type { ConnectorDefinition } from "../sdk.js";
import { timerSourceSchema } from "./schema.js";

/** Emits a message at a fixed interval. */
export const timerSource: ConnectorDefinition = {
  kind: "source",
  type: "timer",
  schema: timerSourceSchema,
  check: (config) =>
    typeof config.interval === "string" && parseDuration(config.interval) === 0
      ? [{ code: "VRS_DURATION_INVALID", path: ["interval"], message: "a timer interval must be longer than 0s" }]
      : [],
};
