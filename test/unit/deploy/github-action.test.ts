import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { packageRoot } from "../../../engine/util/package-root.js";
import { cli } from "../../helpers/cli.js";

interface Step {
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}

describe("the GitHub Action and the documented workflow", () => {
  const action = parse(readFileSync(join(packageRoot(), "deploy/github/action.yml"), "utf8")) as {
    inputs: Record<string, { default?: string }>;
    runs: { using: string; steps: Step[] };
  };

  it("is a composite action running `npx vrsky pr-check` with options the command has", async () => {
    expect(action.runs.using).to.equal("composite");
    const step = action.runs.steps.find((s) => s.run?.includes("pr-check"))!;
    expect(step.run).to.match(/^npx vrsky pr-check /m);
    expect(step.env!.GITHUB_TOKEN).to.equal("${{ inputs.token }}");
    expect(action.inputs.token!.default).to.equal("${{ github.token }}");
    const help = (await cli("pr-check", "--help")).stdout;
    for (const flag of step.run!.match(/--[a-z-]+/g)!) expect(help, flag).to.include(flag);
  });

  it("plans against the live state only when given a NATS URL, with the creds written for the owner only", () => {
    const step = action.runs.steps.find((s) => s.run?.includes("pr-check"))!;
    expect(action.inputs["nats-url"]!.default).to.equal("");
    expect(action.inputs["nats-creds"]!.default).to.equal("");
    expect(step.env!.READER_CREDS).to.equal("${{ inputs.nats-creds }}");
    expect(step.run).to.include('(umask 077 && printf \'%s\\n\' "$READER_CREDS" > "$creds")');
    expect(step.run).to.include('"${live[@]}"');
  });

  it("docs/ci.md's workflow grants the permissions pr-check needs and checks out both commits", () => {
    const doc = readFileSync(join(packageRoot(), "docs/ci.md"), "utf8");
    const block = /```yaml\n(name: vrsky\n[\s\S]*?)```/.exec(doc)![1]!;
    const wf = parse(block) as {
      on: Record<string, unknown>;
      permissions: Record<string, string>;
      jobs: Record<string, { steps: (Step & { with?: Record<string, unknown> })[] }>;
    };
    expect(wf.on).to.have.property("pull_request");
    expect(wf.permissions).to.include({ checks: "write", "pull-requests": "write", contents: "read" });
    const steps = wf.jobs["pr-check"]!.steps;
    expect(steps[0]!.with).to.deep.equal({ "fetch-depth": 0 });
    expect(steps[1]!.uses).to.match(/\/deploy\/github@/);
  });
});
