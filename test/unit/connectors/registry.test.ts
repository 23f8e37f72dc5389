import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { CONNECTORS, connectors, createRegistry } from "../../../engine/connectors/registry.js";
import { CONNECTOR_KINDS, type ConnectorDefinition } from "../../../engine/connectors/sdk.js";
import { packageRoot } from "../../../engine/util/package-root.js";

const section: Record<string, string> = { source: "Sources", step: "Steps", sink: "Sinks" };

/** The part of docs/manifests.md under `### \`type\`` in the kind's section, up to the next heading. */
function documented(kind: string, type: string): string | undefined {
  const doc = readFileSync(join(packageRoot(), "docs", "manifests.md"), "utf8");
  const part = doc.split(/^## /m).find((s) => s.startsWith(`${section[kind]}\n`)) ?? "";
  return part.split(/^### /m).find((s) => s.startsWith(`\`${type}\``));
}

describe("connector registry", () => {
  it("lists every connector once, sources, steps and sinks in that order", () => {
    const kinds = CONNECTORS.map((c) => c.kind);
    expect(kinds).to.deep.equal([...kinds].sort((a, b) => CONNECTOR_KINDS.indexOf(a) - CONNECTOR_KINDS.indexOf(b)));
    expect(connectors.of("source").map((c) => c.type)).to.deep.equal(["http", "file", "postgres-cdc", "nats", "timer"]);
    expect(connectors.of("step").map((c) => c.type)).to.deep.equal([
      "map",
      "filter",
      "xml",
      "csv",
      "template",
      "split",
    ]);
    expect(connectors.of("sink").map((c) => c.type)).to.deep.equal(["http", "file", "postgres", "nats"]);
    expect(connectors.get("sink", "postgres")?.type).to.equal("postgres");
    expect(connectors.get("source", "postgres")).to.equal(undefined);
  });

  it("refuses a type registered twice in a kind, or a type name that is not lowercase-and-dashes", () => {
    const twice: ConnectorDefinition = { ...CONNECTORS[0]! };
    expect(() => createRegistry([...CONNECTORS, twice])).to.throw(/registered twice/);
    expect(() => createRegistry([{ ...twice, type: "Http_2" }])).to.throw(/lowercase/);
    // The same type in two kinds is fine: `http` is a source and a sink.
    expect(connectors.get("source", "http")).to.not.equal(connectors.get("sink", "http"));
  });

  for (const c of CONNECTORS) {
    describe(`${c.kind} ${c.type}`, () => {
      it("has a closed object schema with a title", () => {
        expect(c.schema).to.include({ type: "object", additionalProperties: false });
        expect(c.schema.title).to.be.a("string").that.is.not.empty;
      });

      it("is documented in docs/manifests.md with every config field", () => {
        const text = documented(c.kind, c.type);
        expect(text, `### \`${c.type}\` under ## ${section[c.kind]}`).to.be.a("string");
        for (const field of Object.keys(c.schema.properties as object)) expect(text).to.contain(`| \`${field}\` |`);
      });

      it("checks hostile configs without throwing", () => {
        const odd = [{}, { when: 1, fields: [], columns: null, key: "x", items: {} }, { template: "{{", filename: 7 }];
        for (const config of odd) expect(() => c.check?.(config)).to.not.throw();
      });
    });
  }
});
