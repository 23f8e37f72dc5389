import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { isManifestPath, loadDesired } from "../../../engine/manifests/load.js";
import { checkFixtures } from "../../../engine/pipeline/fixtures/check.js";
import { fixtureTarget, isFixturePath } from "../../../engine/pipeline/fixtures/paths.js";
import { runFixtures, type TestReport } from "../../../engine/pipeline/fixtures/run.js";
import { FIXTURE_SCHEMA, FIXTURE_SCHEMA_FILE } from "../../../engine/pipeline/fixtures/schema.js";
import { packageRoot } from "../../../engine/util/package-root.js";

const enc = (s: string) => new TextEncoder().encode(s);

const TENANT = "apiVersion: vrsky.io/v1\nkind: Tenant\nmetadata: { name: acme }\n";
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
    - { type: split, when: "has(body.lines)", config: { items: body.lines } }
  sinks:
    - { name: slack, type: http, config: { url: "https://hooks.example.com/x" } }
    - name: archive
      type: nats
      when: "headers[?'x-archive'].orValue('') == 'yes'"
      config: { subject: orders.archive }
`;

/** Checks fixture files (path → YAML) against the tenant acme with the integration orders. */
function check(fixtures: Record<string, string>, manifests: Record<string, string> = {}) {
  const desired = loadDesired(
    Object.entries({ "tenants/acme.yaml": TENANT, "integrations/acme/orders.yaml": ORDERS, ...manifests }).map(
      ([path, text]) => ({ path, bytes: enc(text) }),
    ),
  );
  const files = Object.entries(fixtures).map(([path, text]) => ({ path, bytes: enc(text) }));
  return { desired, checked: checkFixtures(files, desired) };
}

function run(yaml: string): TestReport {
  const { desired, checked } = check({ "integrations/acme/orders.test.yaml": yaml });
  expect(desired.findings, "the manifests are valid").to.deep.equal([]);
  return runFixtures(checked, { ref: "HEAD", revision: "0".repeat(40), findings: desired.findings });
}

const cases = (body: string) => `apiVersion: vrsky.io/v1\ncases:\n${body}`;

describe("fixture files: where they are", () => {
  const paths: Array<[string, boolean, boolean, string | undefined]> = [
    // path, fixture, manifest, integration tested
    ["integrations/acme/orders.test.yaml", true, false, "acme/orders"],
    ["integrations/acme/orders.test.yml", true, false, "acme/orders"],
    ["integrations/acme/orders.yaml", false, true, undefined],
    ["integrations/acme/orders.testing.yaml", false, true, undefined],
    ["integrations/acme/.orders.test.yaml", false, false, undefined],
    ["integrations/orders.test.yaml", true, false, undefined],
    ["integrations/acme/eu/orders.test.yaml", true, false, undefined],
    ["tenants/acme.test.yaml", true, false, undefined],
    ["docs/orders.test.yaml", false, false, undefined],
  ];
  for (const [path, fixture, manifest, target] of paths) {
    it(path, () => {
      expect(isFixturePath(path), "fixture").to.equal(fixture);
      expect(isManifestPath(path), "manifest").to.equal(manifest);
      const t = fixtureTarget(path);
      expect(t && `${t.tenant}/${t.name}`).to.equal(target);
    });
  }
});

describe("fixture files: findings", () => {
  const table: Array<{ name: string; file?: string; yaml: string; expect: Array<[string, number, number, string]> }> = [
    {
      name: "a valid file has none",
      yaml: cases("  - { name: a, input: { body: {} }, expect: { dead: { step: shape } } }\n"),
      expect: [],
    },
    {
      name: "bad YAML",
      yaml: "apiVersion: vrsky.io/v1\ncases: [\n",
      expect: [["VRS_YAML_SYNTAX", 3, 1, ""]],
    },
    {
      name: "duplicate keys",
      yaml: "apiVersion: vrsky.io/v1\napiVersion: vrsky.io/v1\ncases: []\n",
      expect: [["VRS_YAML_DUPLICATE_KEY", 2, 1, ""]],
    },
    {
      name: "two documents",
      yaml: cases("  - { name: a, input: { body: {} }, expect: { filtered: {} } }\n---\napiVersion: vrsky.io/v1\n"),
      expect: [["VRS_YAML_SYNTAX", 1, 1, ""]],
    },
    {
      name: "another apiVersion, no cases",
      yaml: "apiVersion: vrsky.io/v2\n",
      expect: [
        ["VRS_SCHEMA_REQUIRED", 1, 1, "cases"],
        ["VRS_MANIFEST_API_VERSION", 1, 13, "apiVersion"],
      ],
    },
    {
      name: "unknown fields, a missing input body, an unknown code",
      yaml: cases("  - name: a\n    input: { bdy: {} }\n    expect: { dead: { code: VRS_NOPE } }\n    extra: 1\n"),
      expect: [
        ["VRS_SCHEMA_REQUIRED", 4, 12, "cases[0].input.body"],
        ["VRS_SCHEMA_UNKNOWN_FIELD", 4, 14, "cases[0].input.bdy"],
        ["VRS_SCHEMA_ENUM", 5, 29, "cases[0].expect.dead.code"],
        ["VRS_SCHEMA_UNKNOWN_FIELD", 6, 5, "cases[0].extra"],
      ],
    },
    {
      name: "expect: none or two outcomes; dead at a step and a sink",
      yaml: cases(
        "  - { name: a, input: { body: {} }, expect: {} }\n" +
          "  - { name: b, input: { body: {} }, expect: { filtered: {}, dead: {} } }\n" +
          "  - { name: c, input: { body: {} }, expect: { dead: { step: 0, sink: slack } } }\n",
      ),
      expect: [
        ["VRS_SCHEMA_REQUIRED", 3, 45, "cases[0].expect"],
        ["VRS_FIELD_CONFLICT", 4, 45, "cases[1].expect"],
        ["VRS_FIELD_CONFLICT", 5, 53, "cases[2].expect.dead"],
      ],
    },
    {
      name: "unknown sinks and steps, by name and by index",
      yaml: cases(
        "  - { name: a, input: { body: {} }, expect: { sinks: { slack: [], slak: [] } } }\n" +
          "  - { name: b, input: { body: {} }, expect: { filtered: { step: big } } }\n" +
          "  - { name: c, input: { body: {} }, expect: { dead: { step: 3 } } }\n" +
          "  - { name: d, input: { body: {} }, expect: { dead: { sink: archiv } } }\n",
      ),
      expect: [
        ["VRS_FIXTURE_SINK_NOT_FOUND", 3, 67, "cases[0].expect.sinks.slak"],
        ["VRS_FIXTURE_STEP_NOT_FOUND", 4, 65, "cases[1].expect.filtered.step"],
        ["VRS_FIXTURE_STEP_NOT_FOUND", 5, 61, "cases[2].expect.dead.step"],
        ["VRS_FIXTURE_SINK_NOT_FOUND", 6, 61, "cases[3].expect.dead.sink"],
      ],
    },
    {
      name: "two cases with one name; an object body under a text content type",
      yaml: cases(
        "  - { name: a, input: { body: {} }, expect: { filtered: {} } }\n" +
          "  - { name: a, input: { body: { x: 1 }, contentType: text/csv }, expect: { filtered: {} } }\n",
      ),
      expect: [
        ["VRS_FIXTURE_DUPLICATE_CASE", 4, 13, "cases[1].name"],
        ["VRS_SCHEMA_TYPE", 4, 31, "cases[1].input.body"],
      ],
    },
    {
      name: "a file for an integration that does not exist",
      file: "integrations/acme/ghost.test.yaml",
      yaml: cases("  - { name: a, input: { body: {} }, expect: { filtered: {} } }\n"),
      expect: [["VRS_FIXTURE_INTEGRATION_NOT_FOUND", 1, 1, ""]],
    },
    {
      name: "a file in the wrong place",
      file: "integrations/orders.test.yaml",
      yaml: cases("  - { name: a, input: { body: {} }, expect: { filtered: {} } }\n"),
      expect: [["VRS_FIXTURE_MISPLACED", 1, 1, ""]],
    },
    {
      name: "hostile YAML: an alias bomb",
      yaml: "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
      expect: [["VRS_YAML_ALIAS_LIMIT", 1, 1, ""]],
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const { checked } = check({ [c.file ?? "integrations/acme/orders.test.yaml"]: c.yaml });
      expect(checked.findings.map((f) => [f.code, f.line, f.column, f.path])).to.deep.equal(c.expect);
      expect(checked.suites).to.have.length(c.expect.length === 0 ? 1 : 0);
    });
  }

  it("a file whose integration's manifest has errors is blocked, not reported again", () => {
    const { desired, checked } = check(
      {
        "integrations/acme/orders.test.yaml": cases("  - { name: a, input: { body: {} }, expect: { filtered: {} } }\n"),
      },
      { "integrations/acme/orders.yaml": ORDERS.replace("replicas", "").replace("type: filter", "type: filtr") },
    );
    expect(desired.findings).to.not.deep.equal([]);
    expect(checked.findings).to.deep.equal([]);
    expect(checked.blocked.map((f) => f.path)).to.deep.equal(["integrations/acme/orders.test.yaml"]);
    const report = runFixtures(checked, { ref: "HEAD", revision: "x", findings: desired.findings });
    expect(report.results.map((r) => r.status)).to.deep.equal(["skipped"]);
    expect(report.passed).to.equal(false);
  });
});

describe("fixture runs", () => {
  const BIG = "input: { body: { order: { id: 1, total: 150.5 } }, headers: { X-Archive: 'yes' } }";
  const table: Array<{ name: string; yaml: string; expect: Array<Array<[string, unknown, unknown]>> }> = [
    {
      name: "what each sink receives: passes",
      yaml: cases(
        `  - name: a\n    ${BIG}\n    expect:\n      sinks:\n        slack: [{ body: { id: 1, total: 150.5 }, id: case-1, contentType: application/json }]\n        archive: [{ headers: { x-archive: "yes", x-other: null } }]\n`,
      ),
      expect: [[]],
    },
    {
      name: "a body that differs: the innermost paths, missing and extra fields",
      yaml: cases(
        `  - name: a\n    ${BIG}\n    expect:\n      sinks:\n        slack: [{ body: { id: 2, total: 150.5, note: x } }]\n        archive: [{}]\n`,
      ),
      expect: [
        [
          ["sinks.slack[0].body.id", 2, 1],
          ["sinks.slack[0].body.note", "x", undefined],
        ],
      ],
    },
    {
      name: "a sink not listed must receive nothing; a listed message must arrive",
      yaml: cases(
        "  - name: a\n    input: { body: { order: { id: 1, total: 150.5 } } }\n    expect: { sinks: { archive: [{ body: {} }] } }\n",
      ),
      expect: [
        [
          ["sinks.slack[0]", undefined, { id: 1, total: 150.5 }],
          ["sinks.archive[0]", {}, undefined],
        ],
      ],
    },
    {
      name: "headers, ids and content types",
      yaml: cases(
        `  - name: a\n    ${BIG}\n    expect:\n      sinks:\n        slack: [{ id: other, contentType: text/plain }]\n        archive: [{ headers: { x-archive: "no", x-trace: "1" } }]\n`,
      ),
      expect: [
        [
          ["sinks.slack[0].id", "other", "case-1"],
          ["sinks.slack[0].contentType", "text/plain", "application/json"],
          ["sinks.archive[0].headers.x-archive", "no", "yes"],
          ["sinks.archive[0].headers.x-trace", "1", undefined],
        ],
      ],
    },
    {
      name: "filtered: by the step named, by index, or any",
      yaml: cases(
        "  - { name: a, input: { body: { order: { id: 1, total: 5 } } }, expect: { filtered: { step: big-only } } }\n" +
          "  - { name: b, input: { body: { order: { id: 1, total: 5 } } }, expect: { filtered: { step: 1 } } }\n" +
          "  - { name: c, input: { body: { order: { id: 1, total: 5 } } }, expect: { filtered: {} } }\n" +
          "  - { name: d, input: { body: { order: { id: 1, total: 5 } } }, expect: { filtered: { step: shape } } }\n",
      ),
      expect: [[], [], [], [["filtered.step", "shape", "step 'big-only' (filter)"]]],
    },
    {
      name: "dead: step and code",
      yaml: cases(
        "  - { name: a, input: { body: {} }, expect: { dead: { step: shape, code: VRS_MSG_FIELD_MISSING } } }\n" +
          "  - { name: b, input: { body: {} }, expect: { dead: { step: 0, code: VRS_MSG_NOT_BOOL } } }\n" +
          "  - { name: c, input: { body: {} }, expect: { dead: { sink: archive } } }\n",
      ),
      expect: [
        [],
        [["dead.code", "VRS_MSG_NOT_BOOL", "VRS_MSG_FIELD_MISSING: config.fields.id: No such key: order"]],
        [["dead.sink", "archive", "step 'shape' (map)"]],
      ],
    },
    {
      name: "another outcome than expected",
      yaml: cases(
        "  - { name: a, input: { body: { order: { id: 1, total: 5 } } }, expect: { sinks: { slack: [] } } }\n" +
          "  - { name: b, input: { body: { order: { id: 1, total: 500 } } }, expect: { dead: {} } }\n" +
          "  - { name: c, input: { body: {} }, expect: { filtered: {} } }\n",
      ),
      expect: [
        [["outcome", "routed to sinks", "filtered at step 'big-only' (filter)"]],
        [["outcome", "dead", "routed to slack"]],
        [
          [
            "outcome",
            "filtered",
            "dead at step 'shape' (map) on case-3: VRS_MSG_FIELD_MISSING: config.fields.id: No such key: order",
          ],
        ],
      ],
    },
    {
      name: "input defaults and attributes: id case-<n>, the source type, a fixed time",
      yaml: cases(
        "  - { name: a, input: { body: { order: { id: 1, total: 500 } } }, expect: { sinks: { slack: [{ id: case-1 }] } } }\n" +
          "  - { name: b, input: { id: x, body: { order: { id: 1, total: 500 } } }, expect: { sinks: { slack: [{ id: x }] } } }\n",
      ),
      expect: [[], []],
    },
  ];
  for (const c of table) {
    it(c.name, () => {
      const report = run(c.yaml);
      expect(report.errors).to.deep.equal([]);
      expect(report.results.map((r) => r.differences.map((d) => [d.path, d.expected, d.actual]))).to.deep.equal(
        c.expect,
      );
      expect(report.results.map((r) => r.status)).to.deep.equal(
        c.expect.map((d) => (d.length === 0 ? "passed" : "failed")),
      );
      expect(report.passed).to.equal(c.expect.every((d) => d.length === 0));
    });
  }

  it("runs split items through the later steps and sinks", () => {
    const spec = ORDERS.replace(
      "body.order.id, total: body.order.total",
      "body.order.id, total: body.order.total, lines: body.order.lines",
    );
    const { desired, checked } = check(
      {
        "integrations/acme/orders.test.yaml": cases(
          "  - name: a\n    input: { body: { order: { id: 1, total: 500, lines: [a, b] } } }\n    expect: { sinks: { slack: [{ body: a, id: case-1.0 }, { body: b, id: case-1.1 }] } }\n",
        ),
      },
      { "integrations/acme/orders.yaml": spec },
    );
    const report = runFixtures(checked, { ref: "HEAD", revision: "x", findings: desired.findings });
    expect(report.results.map((r) => [r.status, r.differences])).to.deep.equal([["passed", []]]);
  });

  it("passes attributes and content types to the steps", () => {
    const spec = ORDERS.replace(
      "config: { fields: { id: body.order.id, total: body.order.total } }",
      "config: { fields: { id: attributes.id, total: attributes.subject, src: attributes.source, at: attributes.receivedAt } }",
    ).replace('"body.total > 100.0"', '"true"');
    const { desired, checked } = check(
      {
        "integrations/acme/orders.test.yaml": cases(
          "  - name: a\n    input: { body: hi, attributes: { subject: s.1, id: ignored } }\n    expect: { sinks: { slack: [{ body: { id: case-1, total: s.1, src: http, at: '2000-01-01T00:00:00.000Z' } }] } }\n",
        ),
      },
      { "integrations/acme/orders.yaml": spec },
    );
    expect(desired.findings).to.deep.equal([]);
    const report = runFixtures(checked, { ref: "HEAD", revision: "x", findings: desired.findings });
    expect(report.results.map((r) => [r.status, r.differences])).to.deep.equal([["passed", []]]);
  });
});

describe("fixture files of the bundled examples", () => {
  it("pass, one file per example integration", () => {
    const root = packageRoot();
    const read = (dir: string, pick: (p: string) => boolean) =>
      readdirSync(join(root, dir), { recursive: true })
        .map((f) => `${dir}/${String(f)}`)
        .filter(pick)
        .map((path) => ({ path, bytes: readFileSync(join(root, path)) }));
    const manifests = [...read("tenants", isManifestPath), ...read("integrations", isManifestPath)];
    const desired = loadDesired(manifests);
    const checked = checkFixtures(read("integrations", isFixturePath), desired);
    const report = runFixtures(checked, { ref: "worktree", revision: "worktree", findings: desired.findings });
    expect(report.errors).to.deep.equal([]);
    expect(report.results.filter((r) => r.status !== "passed")).to.deep.equal([]);
    const tested = new Set(report.results.map((r) => r.integration));
    const integrations = desired.resources
      .filter((r) => r.kind === "Integration")
      .map((r) => `${r.metadata.tenant}/${r.metadata.name}`);
    expect([...tested].sort()).to.deep.equal(integrations.sort());
  });
});

describe(FIXTURE_SCHEMA_FILE, () => {
  it("is FIXTURE_SCHEMA of engine/pipeline/fixtures/schema.ts, as JSON", () => {
    const text = readFileSync(join(packageRoot(), FIXTURE_SCHEMA_FILE), "utf8");
    expect(text, "regenerate it: npm run gen:schemas").to.equal(JSON.stringify(FIXTURE_SCHEMA, null, 2) + "\n");
  });
});

describe("fixture runs: items a step dead-letters by themselves (rejected)", () => {
  const ROWS = ORDERS.replace(
    /  steps:[\s\S]*?  sinks:/,
    "  steps:\n    - { name: rows, type: csv, config: { header: true, emit: rows } }\n  sinks:",
  );
  const INPUT = 'input: { contentType: text/csv, body: "a,b\\n1,2\\nbad\\n3,4\\n" }';
  const GOOD = "slack: [{ id: case-1.0 }, { id: case-1.2 }]";

  function runRows(expectYaml: string) {
    const { desired, checked } = check(
      { "integrations/acme/orders.test.yaml": cases(`  - name: a\n    ${INPUT}\n    expect: ${expectYaml}\n`) },
      { "integrations/acme/orders.yaml": ROWS },
    );
    expect(desired.findings, "the manifests are valid").to.deep.equal([]);
    return {
      findings: checked.findings.map((f) => [f.code, f.message]),
      report: runFixtures(checked, { ref: "HEAD", revision: "x", findings: desired.findings }),
    };
  }

  it("the good rows reach the sinks and the bad row is stated with its step, line and code", () => {
    const { report } = runRows(`{ sinks: { ${GOOD} }, rejected: [{ step: rows, line: 3, code: VRS_MSG_CSV_ROW }] }`);
    expect(report.results.map((r) => [r.status, r.differences])).to.deep.equal([["passed", []]]);
  });

  it("a rejected item the case leaves out, or states wrongly, is a difference", () => {
    const missing = runRows(`{ sinks: { ${GOOD} } }`).report.results[0]!;
    expect(missing.differences.map((d) => d.path)).to.deep.equal(["rejected[0]"]);
    const wrong = runRows(`{ sinks: { ${GOOD} }, rejected: [{ line: 2 }, {}] }`).report.results[0]!;
    expect(wrong.differences.map((d) => [d.path, d.expected])).to.deep.equal([
      ["rejected[0].line", 2],
      ["rejected[1]", {}],
    ]);
  });

  it("rejected goes only with sinks or filtered", () => {
    for (const e of ["{ rejected: [{}] }", "{ dead: {}, rejected: [{}] }"]) {
      const { findings } = runRows(e);
      expect(
        findings.map((f) => f[0]),
        e,
      ).to.deep.equal(["VRS_FIELD_CONFLICT"]);
      expect(findings[0]![1]).to.match(/rejected only with sinks or filtered/);
    }
  });
});
