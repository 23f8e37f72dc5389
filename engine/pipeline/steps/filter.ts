import { compileCondition } from "../cel.js";
import { DROPPED, type StepCompiler } from "./step.js";

/** `filter`: keeps the message when `when` holds, drops it otherwise. */
export const compileFilter: StepCompiler = (config) => {
  const when = compileCondition(String(config.when), ["config", "when"]);
  return (message) => (when(message) ? message : DROPPED);
};
