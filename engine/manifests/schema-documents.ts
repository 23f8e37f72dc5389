import { connectors, type ConnectorRegistry } from "../connectors/registry.js";
import type { JsonSchema } from "../connectors/sdk.js";
import { commonSchema } from "../model/schemas/common.js";
import { connectorSchemaFile, integrationSchema } from "../model/schemas/integration.js";
import { tenantSchema } from "../model/schemas/tenant.js";

export const SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema";

/**
 * The base of every schema's `$id`: a document's `$id` is this plus its path under schemas/
 * (`https://vrsky.io/schemas/v1/connectors/source-http.schema.json`). The layout under the base mirrors the
 * folder, so a relative `$ref` between the files (`../common.schema.json#/$defs/duration`) names the same
 * document whether a tool resolves it against the `$id` (ajv, @hyperjump/json-schema, ajv-cli with every file
 * given) or against the file it read (yaml-language-server, which ignores `$id`). Nothing is served at the
 * base: the identifiers name documents, tools read the files (docs/manifests.md, "Editor support").
 */
export const SCHEMA_BASE_URI = "https://vrsky.io/schemas/v1/";

/**
 * Every JSON Schema of the manifest contract, by its path under schemas/: the Tenant, Integration and common
 * schemas, and one per connector of the registry. Validation compiles exactly these; `npm run gen:schemas`
 * writes them to schemas/ for editors and other tools.
 */
export function schemaDocuments(registry: ConnectorRegistry = connectors): Map<string, JsonSchema> {
  const docs = new Map<string, JsonSchema>();
  const add = (file: string, schema: JsonSchema) =>
    docs.set(file, { $schema: SCHEMA_DIALECT, $id: `${SCHEMA_BASE_URI}${file}`, ...schema });
  const types = (kind: "source" | "step" | "sink") => registry.of(kind).map((c) => c.type);
  add("common.schema.json", commonSchema);
  add("tenant.schema.json", tenantSchema);
  add(
    "integration.schema.json",
    integrationSchema({ source: types("source"), step: types("step"), sink: types("sink") }),
  );
  for (const c of registry.all) add(connectorSchemaFile(c.kind, c.type), c.schema);
  return docs;
}

/** The text of a schema file as committed: two-space JSON and a final newline. */
export function schemaFileText(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
