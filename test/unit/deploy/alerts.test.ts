import { expect } from "chai";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { packageRoot } from "../../../engine/util/package-root.js";

const dir = join(packageRoot(), "deploy", "prometheus");

/** promtool (Debian's `prometheus` package; .ci/run installs it) in deploy/prometheus/: its exit code and output. */
function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile("promtool", args, { cwd: dir, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        return reject(new Error("promtool cannot run: apt-get install prometheus, or run .ci/run"));
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

describe("deploy/prometheus: the alert rules pass promtool's check and their unit tests", function () {
  this.timeout(60_000);

  it("promtool check rules vrsky-alerts.yml", async () => {
    const r = await promtool("check", "rules", "vrsky-alerts.yml");
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/SUCCESS: 9 rules found/);
  });

  it("promtool test rules vrsky-alerts.test.yml: each alert fires on failing series and not on healthy ones", async () => {
    const r = await promtool("test", "rules", "vrsky-alerts.test.yml");
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/SUCCESS/);
  });
});
