import { expect } from "chai";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Resource } from "../../../engine/model/resources.js";
import { buildPlan } from "../../../engine/plan/diff.js";
import type { Plan, Revision } from "../../../engine/plan/model.js";
import { renderPlanMarkdown } from "../../../engine/plan/render-markdown.js";
import { renderPlanText } from "../../../engine/plan/render-text.js";
import { packageRoot } from "../../../engine/util/package-root.js";

/**
 * Golden files for the plan renderers. Each folder under test/golden/plan holds input.json (before/after
 * resources with base and head, or a ready `plan`) and the expected plan.json, plan.txt and plan.md.
 * Regenerate after an intended change with: UPDATE_GOLDEN=1 node test/run.mjs golden
 */
const GOLDEN_DIR = join(packageRoot(), "test", "golden", "plan");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

type Input = { description?: string } & (
  { plan: Plan } | { base: Revision | null; head: Revision; before: Resource[]; after: Resource[] }
);

function planOf(input: Input): Plan {
  if ("plan" in input) return input.plan;
  return buildPlan(input.base, input.head, input.before, input.after);
}

/** The three outputs, each rendered from the JSON form only (as the CLI and the PR bot do). */
function render(input: Input): Record<string, string> {
  const json = JSON.stringify(planOf(input), null, 2) + "\n";
  const plan = JSON.parse(json) as Plan;
  return {
    "plan.json": json,
    "plan.txt": renderPlanText(plan, { color: false }),
    "plan.md": renderPlanMarkdown(plan),
  };
}

function cases(): string[] {
  return readdirSync(GOLDEN_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

describe(`plan renderers against golden files${UPDATE ? " (UPDATE_GOLDEN=1: rewriting them)" : ""}`, () => {
  it("has the expected golden cases", () => {
    expect(cases()).to.include.members([
      "creates-only",
      "empty",
      "hostile-values",
      "long-values",
      "mixed-across-tenants",
      "suspend-resume",
    ]);
  });

  for (const name of cases()) {
    describe(name, () => {
      const dir = join(GOLDEN_DIR, name);
      const input = JSON.parse(readFileSync(join(dir, "input.json"), "utf8")) as Input;
      const outputs = render(input);
      for (const [file, actual] of Object.entries(outputs)) {
        it(`${file} matches byte for byte`, () => {
          const path = join(dir, file);
          if (UPDATE) writeFileSync(path, actual);
          expect(existsSync(path), `${path} is missing; run with UPDATE_GOLDEN=1 to create it`).to.equal(true);
          const expected = readFileSync(path);
          const got = Buffer.from(actual, "utf8");
          if (!got.equals(expected)) {
            // Show the difference as text; the byte comparison above is what decides.
            expect(actual, `${name}/${file} differs; if the change is intended, run with UPDATE_GOLDEN=1`).to.equal(
              expected.toString("utf8"),
            );
          }
          expect(got.equals(expected)).to.equal(true);
        });
      }

      it("renders the same bytes twice (no time, no randomness, no environment)", () => {
        expect(render(input)).to.deep.equal(outputs);
      });
    });
  }
});
