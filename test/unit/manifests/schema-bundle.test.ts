import { expect } from "chai";
import type { JsonSchema } from "../../../engine/connectors/sdk.js";
import { schemaBundle } from "../../../engine/manifests/schema-bundle.js";
import { SCHEMA_BASE_URI } from "../../../engine/manifests/schema-documents.js";

// schemaBundle on small documents: which `$ref`s it rewrites, and the mistakes it refuses rather than write a
// bundle that some tool would resolve differently.

const doc = (file: string, schema: JsonSchema): [string, JsonSchema] => [
  file,
  { $schema: "https://json-schema.org/draft/2020-12/schema", $id: `${SCHEMA_BASE_URI}${file}`, ...schema },
];
const base = (): Array<[string, JsonSchema]> => [
  doc("common.schema.json", { $defs: { d: { type: "string" }, e: { $ref: "#/$defs/d" } } }),
  doc("tenant.schema.json", { properties: { a: { $ref: "common.schema.json#/$defs/d" } } }),
  doc("integration.schema.json", { properties: { c: { $ref: "connectors/source-x.schema.json" } } }),
];
const bundleOf = (...extra: Array<[string, JsonSchema]>) => schemaBundle(new Map([...base(), ...extra]));
const defs = (b: JsonSchema) => b.$defs as Record<string, Record<string, unknown>>;

describe("schemaBundle", () => {
  it("rewrites references within a file, to a sibling and up a folder into pointers inside the bundle", () => {
    const b = bundleOf(
      doc("connectors/source-x.schema.json", {
        properties: { t: { $ref: "../common.schema.json#/$defs/d" }, self: { $ref: "#/properties/t" } },
      }),
    );
    expect(defs(b).common!.$defs).to.deep.include({ e: { $ref: "#/$defs/common/$defs/d" } });
    expect(defs(b).tenant!.properties).to.deep.equal({ a: { $ref: "#/$defs/common/$defs/d" } });
    expect(defs(b).integration!.properties).to.deep.equal({ c: { $ref: "#/$defs/source-x" } });
    expect(defs(b)["source-x"]!.properties).to.deep.equal({
      t: { $ref: "#/$defs/common/$defs/d" },
      self: { $ref: "#/$defs/source-x/properties/t" },
    });
    for (const d of Object.values(defs(b))) expect(d).to.not.have.any.keys("$id", "$schema");
  });

  it("leaves data alone (a `$ref` key in const, default or examples) but rewrites properties named like keywords", () => {
    const b = bundleOf(
      doc("connectors/source-x.schema.json", {
        properties: {
          default: { $ref: "../common.schema.json#/$defs/d" },
          $ref: { const: { $ref: "not-a-reference" }, default: { $ref: "x" }, examples: [{ $ref: "y" }] },
        },
      }),
    );
    expect(defs(b)["source-x"]!.properties).to.deep.equal({
      default: { $ref: "#/$defs/common/$defs/d" },
      $ref: { const: { $ref: "not-a-reference" }, default: { $ref: "x" }, examples: [{ $ref: "y" }] },
    });
  });

  it("refuses what it cannot bundle: an anchor, a document outside the schemas, a missing one, two same names", () => {
    const ref = (r: string) => doc("connectors/source-x.schema.json", { properties: { a: { $ref: r } } });
    expect(() => bundleOf(ref("../common.schema.json#d"))).to.throw(/names an anchor/);
    expect(() => bundleOf(ref("https://example.com/x.json"))).to.throw(/leaves the schemas/);
    expect(() => bundleOf(ref("../nothing.schema.json"))).to.throw(/nothing.schema.json, which is not a schema/);
    expect(() => bundleOf(ref("#"), doc("other/source-x.schema.json", {}))).to.throw(/would both be \$defs\/source-x/);
  });
});
