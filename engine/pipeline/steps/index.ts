import { MessageFailure } from "../failure.js";
import { compileCsv } from "./csv.js";
import { compileFilter } from "./filter.js";
import { compileMap } from "./map.js";
import { compileSplit } from "./split.js";
import type { StepCompiler, StepRuntime } from "./step.js";
import { compileTemplateStep } from "./template.js";
import { compileXml } from "./xml.js";

export { DROPPED, ItemFailure, type StepCompiler, type StepConfig, type StepOutput, type StepRuntime } from "./step.js";

/** The step types that can run, by `type`. A type missing here fails every message (unavailableStep). */
export const STEP_RUNTIMES: Readonly<Record<string, StepCompiler>> = {
  map: compileMap,
  filter: compileFilter,
  template: compileTemplateStep,
  split: compileSplit,
  xml: compileXml,
  csv: compileCsv,
};

/** The runtime of a step type that has none yet: every message reaching it fails, never passes silently. */
export function unavailableStep(type: string): StepRuntime {
  return () => {
    throw new MessageFailure(
      "VRS_STEP_NOT_AVAILABLE",
      `the '${type}' step cannot run in this version of VRSky yet (it validates, but its runtime comes later)`,
    );
  };
}
