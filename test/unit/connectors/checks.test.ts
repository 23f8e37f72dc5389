import { expect } from "chai";
import { connectors } from "../../../engine/connectors/registry.js";
import type { Config, ConnectorKind } from "../../../engine/connectors/sdk.js";

/** Each connector's own rules, called directly: findings carry the code and the path under `config`. */
const CASES: Array<[kind: ConnectorKind, type: string, config: Config, expected: Array<[string, string[]]>]> = [
  ["source", "file", { directory: "/in", afterRead: "move" }, [["VRS_SCHEMA_REQUIRED", ["moveTo"]]]],
  ["source", "file", { directory: "/in", afterRead: "keep" }, []],
  ["source", "timer", { interval: "0ms" }, [["VRS_DURATION_INVALID", ["interval"]]]],
  ["source", "timer", { interval: "1s" }, []],
  ["step", "map", { fields: { a: "body.", b: "body.b" } }, [["VRS_CEL_INVALID", ["fields", "a"]]]],
  ["step", "filter", { when: "body.total + 1" }, [["VRS_CEL_NOT_BOOL", ["when"]]]],
  ["step", "filter", { when: "body.total > 1" }, []],
  ["step", "csv", { header: false }, [["VRS_SCHEMA_REQUIRED", ["columns"]]]],
  ["step", "csv", { header: false, columns: ["a"] }, []],
  ["step", "template", { template: "{{ body. }}" }, [["VRS_TEMPLATE_INVALID", ["template"]]]],
  ["step", "split", { items: "'text'" }, [["VRS_CEL_INVALID", ["items"]]]],
  ["step", "split", { items: "body.lines" }, []],
  ["sink", "file", { directory: "/out", filename: "{{ }}.json" }, [["VRS_TEMPLATE_INVALID", ["filename"]]]],
  [
    "sink",
    "postgres",
    { mode: "upsert", columns: { id: "body.id +" } },
    [
      ["VRS_SCHEMA_REQUIRED", ["key"]],
      ["VRS_CEL_INVALID", ["columns", "id"]],
    ],
  ],
];

describe("connector checks", () => {
  for (const [kind, type, config, expected] of CASES) {
    it(`${kind} ${type}: ${JSON.stringify(config)}`, () => {
      const findings = connectors.get(kind, type)!.check!(config);
      expect(findings.map((f) => [f.code, f.path])).to.deep.equal(expected);
      for (const f of findings) expect(f.message).to.be.a("string").that.is.not.empty;
    });
  }

  it("the HTTP source holds its path within the tenant", () => {
    expect(connectors.get("source", "http")!.uniqueWithinTenant!({ path: "/orders" })).to.deep.include({
      what: "webhook path",
      value: "/orders",
      path: ["path"],
      hint: "each HTTP source of a tenant needs its own path",
    });
  });
});
