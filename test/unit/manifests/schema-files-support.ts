import { readFileSync, readdirSync } from "node:fs";
import { join, sep } from "node:path";
import { parseAllDocuments } from "yaml";
import { packageRoot } from "../../../engine/util/package-root.js";

/** What the committed schema files, examples and known-bad documents look like to a tool outside VRSky. */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const root = packageRoot();

/** The files under a folder of the checkout, by their path under it ("/"-separated), sorted. */
function filesUnder(folder: string, suffix: string): string[] {
  return readdirSync(join(root, folder), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(suffix))
    .map((f) => f.split(sep).join("/"))
    .sort();
}

/** Every committed schema file (schemas/**.json), parsed, by its path under schemas/. */
export function committedSchemas(): Map<string, JsonObject> {
  return new Map(
    filesUnder("schemas", ".json").map((f) => [f, JSON.parse(readFileSync(join(root, "schemas", f), "utf8"))]),
  );
}

export interface Example {
  /** The path in the checkout: `tenants/acme.yaml`. */
  file: string;
  /** Its non-empty YAML documents, as JSON values. */
  docs: JsonObject[];
}

/** The bundled examples: manifests (tenants/, integrations/) and fixture test files (`*.test.yaml`). */
export function examples(): { manifests: Example[]; fixtures: Example[] } {
  const all = ["tenants", "integrations"].flatMap((folder) =>
    filesUnder(folder, ".yaml").map((f): Example => {
      const file = `${folder}/${f}`;
      const docs = parseAllDocuments(readFileSync(join(root, file), "utf8"))
        .map((d) => d.toJS() as JsonObject | null)
        .filter((d): d is JsonObject => d !== null);
      return { file, docs };
    }),
  );
  return {
    manifests: all.filter((e) => !e.file.endsWith(".test.yaml")),
    fixtures: all.filter((e) => e.file.endsWith(".test.yaml")),
  };
}

/** The manifest documents of one example file. */
function exampleDoc(file: string): JsonObject {
  const found = examples().manifests.find((e) => e.file === file);
  if (!found || found.docs.length !== 1) throw new Error(`${file}: expected one manifest document`);
  return structuredClone(found.docs[0]!);
}

export interface BadDocument {
  what: string;
  doc: JsonObject;
  /** Where a validator must report it (a JSON pointer as a URI fragment) and the keyword that fails there. */
  instanceLocation: string;
  keyword: "pattern" | "additionalProperties" | "const";
}

/** Known-bad documents: an example with one mistake each. */
export function badDocuments(): BadDocument[] {
  const tenant = () => exampleDoc("tenants/acme.yaml") as { spec: { limits: JsonObject } & JsonObject } & JsonObject;
  const integration = () =>
    exampleDoc("integrations/acme/orders-to-slack.yaml") as {
      spec: { retry: JsonObject; sinks: Array<{ config: JsonObject }> };
    } & JsonObject;
  const cases: BadDocument[] = [];
  const add = <T extends JsonObject>(
    what: string,
    make: () => T,
    edit: (d: T) => void,
    at: string,
    keyword: BadDocument["keyword"],
  ) => {
    const doc = make();
    edit(doc);
    cases.push({ what, doc, instanceLocation: at, keyword });
  };
  add(
    "a duration in words",
    integration,
    (d) => (d.spec.retry.initialBackoff = "1 sec"),
    "#/spec/retry/initialBackoff",
    "pattern",
  );
  add(
    "a connector's duration with units out of order",
    integration,
    (d) => (d.spec.sinks[0]!.config.timeout = "5s1m"),
    "#/spec/sinks/0/config/timeout",
    "pattern",
  );
  add(
    "a size with a bad unit",
    tenant,
    (d) => (d.spec.limits.payloadBytes = "1MiBs"),
    "#/spec/limits/payloadBytes",
    "pattern",
  );
  add("an unknown field", tenant, (d) => (d.spec.extra = true), "#/spec/extra", "additionalProperties");
  add(
    "an unknown field of a connector",
    integration,
    (d) => (d.spec.sinks[1]!.config.subjekt = "x"),
    "#/spec/sinks/1/config/subjekt",
    "additionalProperties",
  );
  add("another apiVersion", tenant, (d) => (d.apiVersion = "vrsky.io/v2"), "#/apiVersion", "const");
  return cases;
}
