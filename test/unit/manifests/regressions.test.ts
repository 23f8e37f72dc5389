import { expect } from "chai";
import { loadDesired } from "../../../engine/manifests/load.js";
import { parseSize } from "../../../engine/manifests/durations.js";
import { findCredentials } from "../../../engine/manifests/credentials.js";
import { renderPlanMarkdown } from "../../../engine/plan/render-markdown.js";
import { integrationYaml, tenantYaml, TestRepo } from "../../helpers/git-repo.js";
import { loadCommitted } from "../../../engine/git/load-revision.js";

const enc = (s: string) => new TextEncoder().encode(s);
const codes = (src: string, path = "tenants/acme.yaml") =>
  loadDesired([{ path, bytes: enc(src) }]).findings.map((f) => f.code);

/** Defects found by the hostile-input review, each pinned so it stays fixed. */
describe("manifest loading regressions", function () {
  this.timeout(10_000);

  it("deep block nesting is one VRS_YAML_TOO_DEEP, never a parser stack overflow", () => {
    expect(codes(`${"- ".repeat(5000)}1\n`)).to.deep.equal(["VRS_YAML_TOO_DEEP"]);
    expect(codes("? ".repeat(100_000))).to.deep.equal(["VRS_YAML_TOO_DEEP"]);
    expect(codes(`a:\n${" ".repeat(300)}b: 1\n`)).to.deep.equal(["VRS_YAML_TOO_DEEP"]);
  });

  it("quotes cannot hide nesting from the pre-parse guard", () => {
    expect(codes(`[a:'${"[".repeat(100_000)}`)).to.deep.equal(["VRS_YAML_TOO_DEEP"]);
  });

  it("a block scalar with a few brackets is fine", () => {
    const t = tenantYaml("acme").replace(
      "metadata:\n  name: acme\n",
      `metadata:\n  name: acme\n  annotations:\n    note: |\n      ${"[".repeat(40)}\n`,
    );
    expect(codes(t)).to.deep.equal([]);
  });

  it("an undefined alias is a syntax error, not an alias bomb", () => {
    expect(codes("a: *nope\n")).to.deep.equal(["VRS_YAML_SYNTAX"]);
  });

  it("a multi-document file with one unreadable document does not demand a file name match", () => {
    const c = codes(`${tenantYaml("a")}---\nkind: [\n`, "tenants/all.yaml");
    expect(c).to.include("VRS_YAML_SYNTAX");
    expect(c).to.not.include("VRS_REF_PATH_MISMATCH");
  });

  it("a name defined twice stays once in the desired state", () => {
    const r = loadDesired([
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      { path: "tenants/all.yaml", bytes: enc(`${tenantYaml("acme")}---\n${tenantYaml("other")}`) },
    ]);
    expect(r.findings.map((f) => f.code)).to.deep.equal(["VRS_REF_DUPLICATE_NAME"]);
    expect(r.resources.map((x) => x.metadata.name)).to.deep.equal(["acme", "other"]);
  });

  it("sizes must come to whole bytes; ordinary prose starting with 'Token' is not a credential", () => {
    expect(parseSize("1.5B")).to.equal(undefined);
    expect(parseSize("1.5KiB")).to.equal(1536);
    expect(findCredentials({ note: "Token rotation happens weekly" }, [])).to.deep.equal([]);
    expect(findCredentials({ value: "Bearer abcdefghijklmnop123" }, []).length).to.equal(1);
  });

  it("markdown keeps refs verbatim in code spans", () => {
    const md = renderPlanMarkdown({
      formatVersion: 1,
      base: { ref: "fix_typo", revision: "a".repeat(40) },
      head: { ref: "we`ird", revision: "b".repeat(40) },
      summary: { create: 0, update: 0, delete: 0, unchanged: 0 },
      changes: [],
    });
    expect(md).to.contain("`fix_typo`").and.contain("``we`ird``");
  });

  it("a committed link to a folder is an unsupported entry, not a broken link", async () => {
    const repo = new TestRepo();
    try {
      repo.write("tenants/acme.yaml", tenantYaml("acme")).write("shared/dir/x.yaml", integrationYaml("acme", "x"));
      repo.link("tenants/d.yaml", "../shared/dir");
      repo.commit();
      const l = await loadCommitted(repo.dir, "HEAD");
      expect(l.state.findings.map((f) => [f.file, f.code])).to.deep.equal([
        ["tenants/d.yaml", "VRS_FILE_UNSUPPORTED_TYPE"],
      ]);
    } finally {
      repo.cleanup();
    }
  });
});

describe("manifest review regressions", () => {
  it("a connector without config is still checked against its schema", () => {
    const src = integrationYaml("acme", "a").replace("    config:\n      path: /a\n", "");
    const r = loadDesired([
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      { path: "integrations/acme/a.yaml", bytes: enc(src) },
    ]);
    expect(r.findings.map((f) => [f.code, f.path])).to.deep.equal([["VRS_SCHEMA_REQUIRED", "spec.source.config.path"]]);
  });

  it("names in map fields and postgres columns are data, not credentials; metadata values are scanned", () => {
    const src = integrationYaml(
      "acme",
      "a",
      "  steps:\n    - type: map\n      config:\n        fields: { token: body.token, password: body.pw }\n",
    );
    const ok = loadDesired([
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      { path: "integrations/acme/a.yaml", bytes: enc(src) },
    ]);
    expect(ok.findings).to.deep.equal([]);
    const leak = tenantYaml("acme").replace(
      "  name: acme\n",
      "  name: acme\n  annotations: { owner-token: ghp_0123456789abcdefghijklmnopqrstuvwxyz }\n",
    );
    expect(codes(leak)).to.deep.equal(["VRS_SECRET_INLINE"]);
  });

  it("manifests in hidden folders are ignored in committed revisions as in the working tree", async () => {
    const repo = new TestRepo();
    try {
      repo
        .write("tenants/acme.yaml", tenantYaml("acme"))
        .write("integrations/.archive/old.yaml", "not: [valid")
        .commit();
      expect((await loadCommitted(repo.dir, "HEAD")).state.findings).to.deep.equal([]);
    } finally {
      repo.cleanup();
    }
  });

  it("a timer needs an interval above zero", () => {
    const src = integrationYaml("acme", "t").replace(
      "    type: http\n    config:\n      path: /t\n",
      "    type: timer\n    config:\n      interval: 0s\n",
    );
    const r = loadDesired([
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      { path: "integrations/acme/t.yaml", bytes: enc(src) },
    ]);
    expect(r.findings.map((f) => f.code)).to.deep.equal(["VRS_DURATION_INVALID"]);
  });
});
