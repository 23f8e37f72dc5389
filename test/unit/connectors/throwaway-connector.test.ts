import { expect } from "chai";
import { CONNECTORS, createRegistry } from "../../../engine/connectors/registry.js";
import { common, type ConnectorDefinition } from "../../../engine/connectors/sdk.js";
import { parseDuration } from "../../../engine/manifests/durations.js";
import { loadDesired } from "../../../engine/manifests/load.js";
import { schemaDocuments } from "../../../engine/manifests/schema-documents.js";
import { tenantYaml } from "../../helpers/git-repo.js";

/**
 * Adding a connector is its definition plus a registry entry: this one exists only in this file, and
 * validation, the schemas and the cross-file rules pick it up without any other file changing.
 */
const inboxSource: ConnectorDefinition = {
  kind: "source",
  type: "inbox",
  schema: {
    title: "Inbox source",
    type: "object",
    additionalProperties: false,
    properties: {
      mailbox: { ...common.name, description: "The mailbox to read." },
      pollInterval: { ...common.duration, default: "30s" },
      maxMessages: { type: "integer", minimum: 1, default: 100 },
      batch: { type: "integer", minimum: 1 },
    },
    required: ["mailbox"],
  } as const,
  check: (config) =>
    typeof config.batch === "number" && typeof config.maxMessages === "number" && config.batch > config.maxMessages
      ? [{ code: "VRS_FIELD_CONFLICT", path: ["batch"], message: "batch must not exceed maxMessages" }]
      : [],
  uniqueWithinTenant: (config) => [
    { what: "mailbox", value: String(config.mailbox), path: ["mailbox"], hint: "read each mailbox once" },
  ],
};
const withInbox = createRegistry([...CONNECTORS, inboxSource]);

const enc = (s: string) => new TextEncoder().encode(s);
const integration = (name: string, config: string) =>
  "apiVersion: vrsky.io/v1\nkind: Integration\n" +
  `metadata:\n  name: ${name}\n  tenant: acme\n` +
  "spec:\n  source:\n    type: inbox\n" +
  `    config:\n${config}` +
  "  sinks:\n    - name: out\n      type: nats\n      config: { subject: out }\n";
const load = (configs: Record<string, string>, registry = withInbox) =>
  loadDesired(
    [
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      ...Object.entries(configs).map(([name, c]) => ({
        path: `integrations/acme/${name}.yaml`,
        bytes: enc(integration(name, c)),
      })),
    ],
    { connectors: registry },
  );
const found = (r: ReturnType<typeof load>) => r.findings.map((f) => [f.code, f.path, f.line, f.column]);

describe("a connector registered through the SDK (throw-away `inbox` source)", () => {
  it("is unknown to the default registry", () => {
    const r = loadDesired([
      { path: "tenants/acme.yaml", bytes: enc(tenantYaml("acme")) },
      { path: "integrations/acme/a.yaml", bytes: enc(integration("a", "      mailbox: orders\n")) },
    ]);
    expect(found(r)).to.deep.equal([["VRS_SCHEMA_ENUM", "spec.source.type", 8, 11]]);
  });

  it("gets a schema file and a place in the Integration schema", () => {
    const docs = schemaDocuments(withInbox);
    expect(docs.get("connectors/source-inbox.schema.json")).to.include({ title: "Inbox source" });
    const integrationSchema = JSON.stringify(docs.get("integration.schema.json"));
    expect(integrationSchema).to.contain('"connectors/source-inbox.schema.json"');
  });

  it("validates its config against its schema: defaults filled in, durations normalised", () => {
    const r = load({ a: "      mailbox: orders\n      pollInterval: 60000ms\n" });
    expect(r.findings).to.deep.equal([]);
    const source = r.resources.find((x) => x.kind === "Integration")!.spec as { source: unknown };
    expect(source.source).to.deep.equal({
      type: "inbox",
      config: { mailbox: "orders", pollInterval: "1m", maxMessages: 100 },
    });
    expect(parseDuration("1m")).to.equal(60_000);
  });

  it("reports schema errors in its config with the usual codes, paths and positions", () => {
    const r = load({ a: "      pollInterval: soon\n      maxMessages: 0\n" });
    expect(found(r)).to.deep.equal([
      ["VRS_SCHEMA_REQUIRED", "spec.source.config.mailbox", 10, 7],
      ["VRS_DURATION_INVALID", "spec.source.config.pollInterval", 10, 21],
      ["VRS_SCHEMA_RANGE", "spec.source.config.maxMessages", 11, 20],
    ]);
  });

  it("reports its own semantic finding at the field", () => {
    const r = load({ a: "      mailbox: orders\n      maxMessages: 10\n      batch: 50\n" });
    expect(found(r)).to.deep.equal([["VRS_FIELD_CONFLICT", "spec.source.config.batch", 12, 14]]);
    expect(r.findings[0]!.message).to.equal("spec.source.config.batch: batch must not exceed maxMessages");
  });

  it("holds its tenant-unique value across files", () => {
    const r = load({ a: "      mailbox: orders\n", b: "      mailbox: orders\n", c: "      mailbox: refunds\n" });
    expect(r.findings.map((f) => [f.file, f.code, f.path, f.line, f.column])).to.deep.equal([
      ["integrations/acme/b.yaml", "VRS_REF_DUPLICATE_NAME", "spec.source.config.mailbox", 10, 16],
    ]);
    expect(r.findings[0]!.message).to.contain("integrations/acme/a.yaml").and.contain("read each mailbox once");
  });
});
