import { expect } from "chai";
import { cli } from "../helpers/cli.js";
import { tenantYaml, TestRepo } from "../helpers/git-repo.js";

const ORDERS = `apiVersion: vrsky.io/v1
kind: Integration
metadata: { name: orders, tenant: acme }
spec:
  source: { type: http, config: { path: /orders } }
  steps:
    - name: shape
      type: map
      config: { fields: { id: body.order.id, total: body.order.total } }
    - { name: big-only, type: filter, config: { when: "body.total > 100.0" } }
  sinks:
    - { name: slack, type: http, config: { url: "https://hooks.example.com/orders" } }
    - name: archive
      type: nats
      when: "headers[?'x-archive'].orValue('') == 'yes'"
      config: { subject: orders.archive }
`;

const PASSING = `apiVersion: vrsky.io/v1
cases:
  - name: a big order goes to slack
    input: { body: { order: { id: 1, total: 150.5 } } }
    expect:
      sinks:
        slack: [{ body: { id: 1, total: 150.5 } }]
  - name: a small order is filtered
    input: { body: { order: { id: 2, total: 5 } } }
    expect: { filtered: { step: big-only } }
  - name: an order without a total is dead-lettered
    input: { body: { order: { id: 3 } } }
    expect: { dead: { step: shape, code: VRS_MSG_FIELD_MISSING } }
`;

describe("vrsky test on a real git repository", () => {
  let repo: TestRepo;
  beforeEach(() => {
    repo = new TestRepo();
    repo.write("tenants/acme.yaml", tenantYaml("acme")).write("integrations/acme/orders.yaml", ORDERS);
  });
  afterEach(() => repo.cleanup());

  it("passes: every case of the committed fixtures, exit 0", async () => {
    repo.write("integrations/acme/orders.test.yaml", PASSING).commit();
    const text = await cli("test", "--repo", repo.dir);
    expect(text.code, text.stdout + text.stderr).to.equal(0);
    expect(text.stdout).to.include("✓ a big order goes to slack");
    expect(text.stdout).to.include("✓ 3 cases passed in 1 fixture file at HEAD");
    const json = await cli("test", "--repo", repo.dir, "--format", "json");
    expect(json.code).to.equal(0);
    const report = JSON.parse(json.stdout);
    expect(report).to.include({ formatVersion: 1, passed: true, ref: "HEAD" });
    expect(report.summary).to.deep.equal({ files: 1, cases: 3, passed: 3, failed: 0, skipped: 0 });
    expect(report.results[0]).to.deep.include({
      file: "integrations/acme/orders.test.yaml",
      line: 3,
      integration: "acme/orders",
      status: "passed",
    });
    expect(report.results[0].actual.sinks.slack[0].body).to.deep.equal({ id: 1, total: 150.5 });
  });

  it("fails with a diff naming the path, expected and actual, exit 1", async () => {
    repo
      .write(
        "integrations/acme/orders.test.yaml",
        PASSING.replace("slack: [{ body: { id: 1, total: 150.5 } }]", "slack: [{ body: { id: 1, total: 15.05 } }]"),
      )
      .commit();
    const text = await cli("test", "--repo", repo.dir);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.include("✗ a big order goes to slack  (integrations/acme/orders.test.yaml:3)");
    expect(text.stdout).to.match(/sinks\.slack\[0\]\.body\.total\n\s+expected: 15\.05\n\s+actual: +150\.5\n/);
    expect(text.stdout).to.include("✗ 2 passed, 1 failed in 1 fixture file at HEAD");
    const report = JSON.parse((await cli("test", "--repo", repo.dir, "--format", "json")).stdout);
    expect(report.passed).to.equal(false);
    expect(report.results.map((r: { status: string }) => r.status)).to.deep.equal(["failed", "passed", "passed"]);
    expect(report.results.find((r: { status: string }) => r.status === "failed").differences).to.deep.equal([
      { path: "sinks.slack[0].body.total", expected: 15.05, actual: 150.5 },
    ]);
  });

  it("reports a bad fixture file as a finding with file:line:column and code, in test and validate, exit 1", async () => {
    repo
      .write("integrations/acme/orders.test.yaml", PASSING.replace("slack: [{", "slak: [{"))
      .write("integrations/acme/broken.test.yaml", "apiVersion: vrsky.io/v1\ncases: [\n")
      .commit();
    const text = await cli("test", "--repo", repo.dir);
    expect(text.code).to.equal(1);
    expect(text.stdout).to.include("integrations/acme/orders.test.yaml:7:9  VRS_FIXTURE_SINK_NOT_FOUND");
    expect(text.stdout).to.include("integrations/acme/broken.test.yaml:3:1  VRS_YAML_SYNTAX");
    const validate = await cli("validate", "--repo", repo.dir, "--format", "json");
    expect(validate.code).to.equal(1);
    const out = JSON.parse(validate.stdout);
    expect(Object.keys(out)).to.deep.equal(["valid", "ref", "revision", "files", "resources", "errors"]);
    expect(out).to.deep.include({ valid: false, files: 2, resources: { tenants: 1, integrations: 1 } });
    expect(out.errors.map((e: { file: string; code: string }) => [e.file, e.code])).to.deep.equal([
      ["integrations/acme/broken.test.yaml", "VRS_FIXTURE_INTEGRATION_NOT_FOUND"],
      ["integrations/acme/broken.test.yaml", "VRS_YAML_SYNTAX"],
      ["integrations/acme/orders.test.yaml", "VRS_FIXTURE_SINK_NOT_FOUND"],
    ]);
    expect(out.errors[2]).to.deep.include({ line: 7, column: 9, path: "cases[0].expect.sinks.slak" });
    const validateText = await cli("validate", "--repo", repo.dir);
    expect(validateText.stdout).to.include("The manifests are valid; the errors are in fixture tests.");
  });

  it("reads only committed content; --worktree reads the files on disk", async () => {
    repo.write("integrations/acme/orders.test.yaml", PASSING).commit();
    repo.write("integrations/acme/orders.test.yaml", PASSING.replace("total: 150.5 } }]", "total: 1 } }]"));
    expect((await cli("test", "--repo", repo.dir)).code).to.equal(0);
    expect((await cli("test", "--repo", repo.dir, "--worktree")).code).to.equal(1);
    expect((await cli("validate", "--repo", repo.dir)).code).to.equal(0);
  });

  it("skips the cases of an integration whose manifest has errors, and says why, exit 1", async () => {
    repo
      .write("integrations/acme/orders.test.yaml", PASSING)
      .write("integrations/acme/orders.yaml", ORDERS.replace("type: filter", "type: filtr"))
      .commit();
    const r = await cli("test", "--repo", repo.dir);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include("integrations/acme/orders.yaml:");
    expect(r.stdout).to.include("skipped: the integration's manifest has errors");
  });

  it("says so when there are no fixture tests, exit 0", async () => {
    repo.commit();
    const r = await cli("test", "--repo", repo.dir);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include("No fixture tests at HEAD");
  });

  it("exits 2 on usage errors", async () => {
    repo.commit();
    expect((await cli("test", "--repo", repo.dir, "--ref", "nope")).code).to.equal(2);
    expect((await cli("test", "--repo", repo.dir, "--format", "yaml")).code).to.equal(2);
    expect((await cli("test", "--repo", "/nonexistent/vrsky")).code).to.equal(2);
  });
});
