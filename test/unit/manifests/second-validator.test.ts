import { registerSchema, unregisterSchema, validate } from "@hyperjump/json-schema/draft-2020-12";
import { BASIC } from "@hyperjump/json-schema/experimental";
import { expect } from "chai";
import { BUNDLE_FILE, KIND_SCHEMA_FILE } from "../../../engine/manifests/schema-bundle.js";
import { SCHEMA_BASE_URI } from "../../../engine/manifests/schema-documents.js";
import { badDocuments, committedSchemas, examples, type Json, type JsonObject } from "./schema-files-support.js";

// The committed schema files checked by a second, independent JSON Schema implementation
// (@hyperjump/json-schema), as another tool would use them: the examples are valid, the known-bad documents are
// not, with every schema file registered by its `$id` and with the single-file bundle alone. Hyperjump does not
// know VRSky's formats; it catches bad durations and sizes by their `pattern`.

type Output = { valid: boolean; errors?: Array<{ absoluteKeywordLocation: string; instanceLocation: string }> };

const FIXTURE_SCHEMA_FILE = "integration-test.schema.json";
const uri = (file: string) => `${SCHEMA_BASE_URI}${file}`;
const check = async (file: string, doc: JsonObject): Promise<Output> => validate(uri(file), doc as Json, BASIC);
const explain = (out: Output) =>
  (out.errors ?? []).map((e) => `${e.instanceLocation} fails ${e.absoluteKeywordLocation}`).join("\n");

/** The schema file of a manifest document, by its kind. */
function kindFile(doc: JsonObject): string {
  const file = KIND_SCHEMA_FILE[doc.kind as keyof typeof KIND_SCHEMA_FILE];
  if (!file) throw new Error(`not a manifest kind: ${JSON.stringify(doc.kind)}`);
  return file;
}

describe("schemas/ under a second JSON Schema validator (@hyperjump/json-schema)", () => {
  const schemas = committedSchemas();
  const { manifests, fixtures } = examples();

  before(() => {
    for (const schema of schemas.values()) registerSchema(schema as Parameters<typeof registerSchema>[0]);
  });
  after(() => {
    for (const schema of schemas.values()) unregisterSchema(String(schema.$id));
  });

  it("finds the examples: 3 tenants, 7 integrations and their fixture tests", () => {
    expect(manifests.map((e) => e.file).filter((f) => f.startsWith("tenants/"))).to.have.length(3);
    expect(manifests.map((e) => e.file).filter((f) => f.startsWith("integrations/"))).to.have.length(7);
    expect(fixtures).to.have.length(7);
  });

  for (const target of ["the schema of its kind", `the bundle (${BUNDLE_FILE})`]) {
    it(`every example manifest is valid against ${target}`, async () => {
      let checked = 0;
      for (const { file, docs } of manifests) {
        for (const doc of docs) {
          const out = await check(target.startsWith("the bundle") ? BUNDLE_FILE : kindFile(doc), doc);
          expect(out.valid, `${file}:\n${explain(out)}`).to.equal(true);
          checked++;
        }
      }
      expect(checked).to.equal(10);
    });
  }

  it(`every example fixture test file is valid against ${FIXTURE_SCHEMA_FILE}`, async () => {
    for (const { file, docs } of fixtures) {
      expect(docs, file).to.have.length(1);
      const out = await check(FIXTURE_SCHEMA_FILE, docs[0]!);
      expect(out.valid, `${file}:\n${explain(out)}`).to.equal(true);
    }
  });

  for (const bad of badDocuments()) {
    it(`rejects ${bad.what} at ${bad.instanceLocation}, by the schema of its kind and by the bundle`, async () => {
      for (const file of [kindFile(bad.doc), BUNDLE_FILE]) {
        const out = await check(file, bad.doc);
        expect(out.valid, `${file} accepted ${bad.what}`).to.equal(false);
        const failures = (out.errors ?? []).filter((e) => e.instanceLocation === bad.instanceLocation);
        expect(
          failures.some((e) => e.absoluteKeywordLocation.endsWith(`/${bad.keyword}`)),
          `${file}: expected ${bad.keyword} to fail at ${bad.instanceLocation}, got:\n${explain(out)}`,
        ).to.equal(true);
      }
    });
  }

  it("the bundle rejects a document of no known kind", async () => {
    const out = await check(BUNDLE_FILE, { apiVersion: "vrsky.io/v1", kind: "Tenants", metadata: { name: "a" } });
    expect(out.valid).to.equal(false);
    expect((out.errors ?? []).map((e) => e.instanceLocation)).to.include("#/kind");
  });
});
