import { connectors, type ConnectorRegistry } from "../connectors/registry.js";
import type { JsonSchema } from "../connectors/sdk.js";
import { commonSchema } from "../model/schemas/common.js";
import { connectorSchemaFile, integrationSchema } from "../model/schemas/integration.js";
import { tenantSchema } from "../model/schemas/tenant.js";

const DIALECT = "https://json-schema.org/draft/2020-12/schema";

/**
 * Every JSON Schema of the manifest contract, by its path under schemas/: the Tenant, Integration and common
 * schemas, and one per connector of the registry. Validation compiles exactly these; `npm run gen:schemas`
 * writes them to schemas/ for editors (the files carry no `$id`, so their relative `$ref`s resolve against
 * the files themselves, and against the same paths here).
 */
export function schemaDocuments(registry: ConnectorRegistry = connectors): Map<string, JsonSchema> {
  const docs = new Map<string, JsonSchema>();
  const add = (file: string, schema: JsonSchema) => docs.set(file, { $schema: DIALECT, ...schema });
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
