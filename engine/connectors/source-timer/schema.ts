import { common } from "../sdk.js";

/** The JSON Schema of the `config` of a `timer` source. */
export const timerSourceSchema = {
  title: "Timer source",
  type: "object",
  additionalProperties: false,
  properties: {
    interval: { ...common.duration, description: "Emit a message this often." },
    payload: { description: "The body of each message.", default: {} },
  },
  required: ["interval"],
} as const;
