import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { expect } from "chai";
import { BUNDLE_FILE, KIND_SCHEMA_FILE } from "../../../engine/manifests/schema-bundle.js";
import { SCHEMA_BASE_URI, SCHEMA_DIALECT } from "../../../engine/manifests/schema-documents.js";
import {
  badDocuments,
  type BadDocument,
  committedSchemas,
  examples,
  root,
  type Json,
  type JsonObject,
} from "./schema-files-support.js";

// The committed schema files as tools other than VRSky read them: identified by `$id`, with relative `$ref`s
// that resolve the same against the `$id` (validators) and against the file (yaml-language-server ignores
// `$id`), and a bundle whose references all stay inside it. docs/manifests.md ("Editor support") relies on this.

/** Every `$ref` in a schema, with the JSON pointer of the schema holding it. */
function refsOf(value: Json, at = ""): Array<{ at: string; ref: string }> {
  if (Array.isArray(value)) return value.flatMap((v, i) => refsOf(v, `${at}/${i}`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) =>
    k === "$ref" && typeof v === "string"
      ? [{ at, ref: v }]
      : refsOf(v, `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`),
  );
}

/** The value a URI fragment (a JSON pointer, or empty) names in a document, or undefined. */
function atPointer(doc: Json, fragment: string): Json | undefined {
  let v: Json | undefined = doc;
  for (const token of decodeURIComponent(fragment).split("/").slice(1)) {
    const key = token.replace(/~1/g, "/").replace(/~0/g, "~");
    v = v !== null && typeof v === "object" ? (v as Record<string, Json>)[key] : undefined;
  }
  return v;
}

/** Where ajv reports a known-bad document: an unknown field at the object holding it, the rest at the value. */
function ajvPath(bad: BadDocument): string {
  const pointer = bad.instanceLocation.replace(/^#/, "");
  return bad.keyword === "additionalProperties" ? pointer.replace(/\/[^/]*$/, "") : pointer;
}

const splitHash = (url: URL) => ({ doc: url.href.replace(/#.*$/, ""), fragment: url.hash.replace(/^#/, "") });

describe("schema files for other tools: $id, references and the bundle", () => {
  const schemas = committedSchemas();
  const perFile = [...schemas].filter(([file]) => file !== BUNDLE_FILE);
  const bundle = schemas.get(BUNDLE_FILE)!;

  it("every file declares the 2020-12 dialect and its $id: the base plus its path under schemas/", () => {
    expect(bundle, BUNDLE_FILE).to.not.equal(undefined);
    for (const [file, schema] of schemas) {
      expect(schema.$schema, file).to.equal(SCHEMA_DIALECT);
      expect(schema.$id, file).to.equal(`${SCHEMA_BASE_URI}${file}`);
    }
  });

  it("each relative $ref names the same document resolved against the file (editors) or its $id (validators)", () => {
    const dir = `${pathToFileURL(join(root, "schemas")).href}/`;
    let external = 0;
    for (const [file, schema] of perFile) {
      for (const { at, ref } of refsOf(schema)) {
        const where = `${file}#${at}: $ref ${ref}`;
        const byFile = splitHash(new URL(ref, `${dir}${file}`));
        const byId = splitHash(new URL(ref, String(schema.$id)));
        expect(byFile.doc.startsWith(dir), where).to.equal(true);
        const target = byFile.doc.slice(dir.length);
        expect(schemas.has(target), `${where}: no file schemas/${target}`).to.equal(true);
        expect(byId.doc, where).to.equal(`${SCHEMA_BASE_URI}${target}`);
        expect(atPointer(schemas.get(target)!, byFile.fragment), `${where}: nothing at the pointer`).to.not.equal(
          undefined,
        );
        if (target !== file) external++;
      }
    }
    expect(external, "references between files").to.be.greaterThan(30);
  });

  it("the bundle's references are all JSON pointers inside it, and it embeds no other $id or $schema", () => {
    const refs = refsOf(bundle);
    expect(refs.length).to.be.greaterThan(30);
    for (const { at, ref } of refs) {
      expect(ref, at).to.match(/^#\//);
      expect(atPointer(bundle, ref.slice(1)), `${at}: $ref ${ref}`).to.not.equal(undefined);
    }
    const { $id: _id, $schema: _dialect, ...rest } = bundle;
    expect(JSON.stringify(rest)).to.not.match(/"\$(id|schema)":/);
  });

  // What `ajv validate --spec=draft2020 --strict=false` (ajv-cli, docs/manifests.md) does: the same library as
  // VRSky's validation, but without VRSky's formats and keyword, so durations and sizes are left to the patterns.
  const ajvCli = () => new Ajv2020({ strict: false, logger: false, allErrors: true });
  const setups: Array<[string, () => (doc: JsonObject) => { valid: boolean; at: string[] }]> = [
    [
      `-s schemas/${BUNDLE_FILE}`,
      () => {
        const fn = ajvCli().compile(bundle);
        return (doc) => ({ valid: fn(doc) as boolean, at: (fn.errors ?? []).map((e) => e.instancePath) });
      },
    ],
    [
      "-s schemas/<kind>.schema.json -r (every other schema file)",
      () => {
        const ajv = ajvCli();
        for (const [, schema] of perFile) ajv.addSchema(schema);
        return (doc) => {
          const fn = ajv.getSchema(`${SCHEMA_BASE_URI}${KIND_SCHEMA_FILE[doc.kind as "Tenant" | "Integration"]}`)!;
          return { valid: fn(doc) as boolean, at: (fn.errors ?? []).map((e) => e.instancePath) };
        };
      },
    ],
  ];
  for (const [how, setup] of setups) {
    it(`ajv-cli ${how}: the examples pass, the known-bad documents fail where expected`, () => {
      const check = setup();
      for (const { file, docs } of examples().manifests)
        for (const doc of docs) expect(check(doc).valid, file).to.equal(true);
      for (const bad of badDocuments()) {
        const out = check(bad.doc);
        expect(out.valid, bad.what).to.equal(false);
        expect(out.at, bad.what).to.include(ajvPath(bad));
      }
    });
  }
});
