import { expect } from "chai";
import { runVrsky } from "../helpers/cli-run.js";
import { cells, expectNoRawControls, outsideCodeSpans } from "../helpers/hostile-text.js";
import { integrationYaml, tenantYaml } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";

/**
 * Hostile text in a commit (file names, names, values) through the real CLI on a real git repository and a real
 * NATS: `validate`, `plan` (text and markdown) and `status` print it with its control characters as visible
 * escapes, and the markdown keeps it inside its cell. The raw bytes never reach the output.
 */
describe("vrsky validate, plan and status with hostile names and values in a commit", function () {
  this.timeout(60_000);
  const fx = useNats({ repo: "test" });

  // In YAML escapes: ESC sequences (clear screen, set title), BEL, NUL, C1 CSI, bidi overrides, a line break that
  // starts a heading.
  const YAML_ESCAPED = "\\e[2J\\e]0;pwned\\a\\0\\x9b1A\\u202eevil\\u2066\\n### No changes. Safe to merge ✅";
  // A file name may hold any byte but NUL and '/'.
  const FILE = "tenants/x\u001b[2J\u001b]0;t\u0007\u202e\n# <img src=x onerror=alert(1)> `|.yaml";

  const PIECES = ["\u001b[2J", "\u001b]0;", "\u0007", "\u0000", "\u009b", "\u202e", "\u2066"];

  function expectSafe(out: string, what: string): void {
    expectNoRawControls(out, what);
    for (const p of PIECES) expect(out.includes(p), `${what} holds ${JSON.stringify(p)}`).to.equal(false);
    expect(out, what).not.to.match(/^#+ No changes/m);
  }

  function commitHostile(): { base: string; valid: string; invalid: string } {
    const repo = fx.repo;
    repo
      .write("tenants/acme.yaml", tenantYaml("acme"))
      .write("integrations/acme/orders.yaml", integrationYaml("acme", "orders"));
    const base = repo.commit("base");
    const annotated = integrationYaml("acme", "orders").replace(
      "  tenant: acme\n",
      `  tenant: acme\n  annotations:\n    note: "${YAML_ESCAPED}"\n`,
    );
    repo.write("integrations/acme/orders.yaml", annotated);
    const valid = repo.commit("hostile value");
    repo.write(FILE, tenantYaml(`"${YAML_ESCAPED}"`));
    repo.write("integrations/acme/bad.yaml", integrationYaml("acme", `"${YAML_ESCAPED}"`));
    const invalid = repo.commit("hostile names");
    return { base, valid, invalid };
  }

  it("validate, plan (text, markdown, invalid head) and status escape them", async () => {
    const { base, valid, invalid } = commitHostile();
    const dir = fx.repo.dir;

    const v = await runVrsky(["validate", "--repo", dir, "--ref", invalid]);
    expect(v.code, v.stderr).to.equal(1);
    expectSafe(v.stdout, "validate");
    expect(v.stdout).to.include("\\x1b[2J").and.include("\\u202e").and.include("\\n# <img");

    const text = await runVrsky(["plan", "--repo", dir, "--base", base, "--head", valid]);
    expect(text.code, text.stderr).to.equal(0);
    expectSafe(text.stdout, "plan text");
    expect(text.stdout).to.include("~ Integration acme/orders");
    expect(text.stdout).to.include("\\u202e");

    const md = await runVrsky(["plan", "--repo", dir, "--base", base, "--head", valid, "--format", "markdown"]);
    expect(md.code, md.stderr).to.equal(0);
    expectSafe(md.stdout, "plan markdown");
    expect(md.stdout.split("\n").filter((l) => l.startsWith("#"))).to.deep.equal(["### VRSky plan"]);

    for (const format of ["text", "markdown"]) {
      const bad = await runVrsky(["plan", "--repo", dir, "--base", base, "--head", invalid, "--format", format]);
      expect(bad.code, bad.stderr).to.equal(1);
      expectSafe(bad.stdout, `plan of an invalid head (${format})`);
      if (format !== "markdown") continue;
      expect(outsideCodeSpans(bad.stdout)).not.to.match(/(?<!\\)<img/);
      const rows = bad.stdout.split("\n").filter((l) => l.startsWith("| "));
      for (const row of rows) expect(cells(row), row).to.have.length(3);
    }

    fx.repo.git("checkout", "-q", "-B", "main", invalid);
    const once = await runVrsky(["reconcile", "--repo", dir, "--nats", fx.url, "--once"]);
    expect(once.code, once.stderr).to.equal(1);
    expectSafe(once.stdout + once.stderr, "reconcile --once");
    const st = await runVrsky(["status", "--nats", fx.url, "--resources", "--assignments"]);
    expect(st.code, st.stderr).to.equal(1);
    expectSafe(st.stdout, "status");
    expect(st.stdout).to.include("VRS_").and.include("\\x1b[2J");
  });
});
