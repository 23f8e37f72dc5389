import { join } from "node:path";
import { expect } from "chai";
import { ESLint } from "eslint";
import { packageRoot } from "../../../engine/util/package-root.js";

/**
 * The layering rule of eslint.config.mjs, exercised on imports written for the purpose: each wrong one must be
 * rejected by `no-restricted-imports`, each right one accepted. (npm test runs the linter over the real tree.)
 */
describe("layering rule (eslint.config.mjs)", function () {
  this.timeout(60_000);
  const root = packageRoot();
  const eslint = new ESLint({ cwd: root });

  async function importErrors(file: string, source: string): Promise<string[]> {
    const [result] = await eslint.lintText(source + "\nexport {};\n", { filePath: join(root, file) });
    return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
  }

  const rejected: Array<[string, string, string]> = [
    ["engine/reconciler/x.ts", 'import { Worker } from "../worker/worker.js";', "control plane → worker plane"],
    ["engine/reconciler/placement/x.ts", 'import "../../worker/runner.js";', "control plane → worker plane"],
    ["engine/worker/x.ts", 'import { Reconciler } from "../reconciler/reconciler.js";', "worker → control plane"],
    ["engine/worker/x.ts", 'import "../cli/output.js";', "worker → CLI"],
    ["engine/manifests/x.ts", 'import { readFileSync } from "node:fs";', "pure core → file system"],
    ["engine/plan/x.ts", 'import { connect } from "@nats-io/transport-node";', "pure core → NATS"],
    ["engine/scheduler/x.ts", 'import "../state/mirror.js";', "pure core → state access"],
    ["engine/contract/x.ts", 'import { execFile } from "node:child_process";', "contract → processes"],
    ["engine/state/x.ts", 'import "../reconciler/lease.js";', "shared shell → a plane"],
    ["engine/telemetry/x.ts", 'import "../worker/worker.js";', "telemetry → a plane"],
    ["engine/api/x.ts", 'import "../reconciler/reconciler.js";', "status API → control plane"],
    ["engine/api/x.ts", 'import "../worker/worker.js";', "status API → worker plane"],
    ["engine/api/x.ts", 'import "../cli/output.js";', "status API → CLI"],
    ["engine/views/x.ts", 'import "../api/server.js";', "read model → status API"],
    ["engine/state/x.ts", 'import "../api/state.js";', "shared shell → status API"],
  ];
  for (const [file, source, what] of rejected) {
    it(`rejects ${what}: ${source} in ${file}`, async () => {
      expect(await importErrors(file, source)).to.have.length.greaterThan(0);
    });
  }

  const accepted: Array<[string, string]> = [
    ["engine/reconciler/x.ts", 'import "../contract/workers.js";'],
    ["engine/worker/x.ts", 'import "../state/mirror.js";'],
    ["engine/api/x.ts", 'import "../views/status.js";'],
    ["engine/api/x.ts", 'import "../state/read-only.js";'],
    ["engine/cli/x.ts", 'import "../api/api.js";'],
    ["engine/plan/x.ts", 'import { createHash } from "node:crypto";'],
    ["engine/manifests/x.ts", 'import "../errors/codes.js";'],
    ["engine/cli/x.ts", 'import "../worker/worker.js";'],
  ];
  for (const [file, source] of accepted) {
    it(`accepts ${source} in ${file}`, async () => {
      expect(await importErrors(file, source)).to.deep.equal([]);
    });
  }
});
