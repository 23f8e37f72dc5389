import { integrationYaml, tenantYaml } from "../../helpers/git-repo.js";
import type { Expected } from "./hostile-support.js";

/** One file of test/corpus/hostile, the repository path it is loaded as, and everything the load must report. */
export interface CorpusCase {
  /** File name in test/corpus/hostile/. */
  file: string;
  /** Repository path the bytes are given as. */
  path: string;
  /** Valid neighbours loaded with it: [path, YAML]. */
  with?: Array<[string, string]>;
  /** Every finding, in the order loadDesired sorts them. */
  expect: Expected[];
  /** resourceKey of every accepted resource; not checked when absent (cross-file findings keep the resources). */
  resources?: string[];
}

const ACME: [string, string] = ["tenants/acme.yaml", tenantYaml("acme")];
const HOOK = "integrations/acme/hook.yaml";

/** An integration case: the corpus file as integrations/acme/hook.yaml next to a valid tenant acme. */
function hook(file: string, expect: Expected[]): CorpusCase {
  return { file, path: HOOK, with: [ACME], expect, resources: ["Tenant/acme"] };
}

function asAcme(file: string, expect: Expected[]): CorpusCase {
  return { file, path: "tenants/acme.yaml", expect, resources: [] };
}

export const CORPUS_CASES: CorpusCase[] = [
  // YAML syntax
  asAcme("syntax-unclosed-flow.yaml", [["VRS_YAML_SYNTAX", "", 4, 1]]),
  asAcme("syntax-bad-indent.yaml", [
    ["VRS_YAML_SYNTAX", "", 4, 11],
    ["VRS_YAML_SYNTAX", "", 6, 1],
  ]),
  asAcme("duplicate-key.yaml", [["VRS_YAML_DUPLICATE_KEY", "", 8, 3]]),
  asAcme("duplicate-key-flow.yaml", [["VRS_YAML_DUPLICATE_KEY", "", 4, 24]]),
  asAcme("alias-bomb.yaml", [["VRS_YAML_ALIAS_LIMIT", "", 1, 1]]),
  // Keys that would reach Object.prototype in a naive loader, at several depths and in flow style
  asAcme("proto-top-level.yaml", [["VRS_YAML_FORBIDDEN_KEY", "__proto__", 2, 1]]),
  asAcme("proto-in-flow-list.yaml", [["VRS_YAML_FORBIDDEN_KEY", "spec.apiKeys[0].__proto__", 7, 14]]),
  asAcme("constructor-key.yaml", [["VRS_YAML_FORBIDDEN_KEY", "spec.limits.jetstream.constructor", 9, 7]]),
  asAcme("prototype-key.yaml", [["VRS_YAML_FORBIDDEN_KEY", "metadata.labels.prototype", 7, 5]]),
  // Manifest shape
  asAcme("unknown-kind.yaml", [["VRS_MANIFEST_KIND", "kind", 3, 7]]),
  asAcme("unknown-api-version.yaml", [["VRS_MANIFEST_API_VERSION", "apiVersion", 2, 13]]),
  asAcme("missing-kind.yaml", [["VRS_SCHEMA_REQUIRED", "kind", 2, 1]]),
  asAcme("scalar-document.yaml", [["VRS_YAML_NOT_MAPPING", "", 2, 1]]),
  asAcme("list-document.yaml", [["VRS_YAML_NOT_MAPPING", "", 2, 1]]),
  asAcme("empty.yaml", [["VRS_YAML_EMPTY", "", 1, 1]]),
  asAcme("comments-only.yaml", [["VRS_YAML_EMPTY", "", 1, 1]]),
  // Tags outside the JSON data model
  asAcme("tag-binary.yaml", [["VRS_YAML_UNSUPPORTED_TAG", "metadata.name", 5, 18]]),
  asAcme("tag-set.yaml", [["VRS_YAML_UNSUPPORTED_TAG", "metadata.labels", 7, 5]]),
  asAcme("tag-custom.yaml", [["VRS_YAML_UNSUPPORTED_TAG", "", 5, 9]]),
  // Multi-document files: the valid documents are accepted, the bad one is reported where it is
  {
    file: "multi-document.yaml",
    path: "tenants/all.yaml",
    expect: [["VRS_MANIFEST_KIND", "kind", 13, 7]],
    resources: ["Tenant/alpha", "Tenant/beta", "Tenant/delta"],
  },
  {
    file: "multi-document-syntax.yaml",
    path: "tenants/all.yaml",
    expect: [
      ["VRS_YAML_SYNTAX", "", 8, 1],
      ["VRS_YAML_SYNTAX", "", 9, 1],
    ],
    resources: ["Tenant/alpha", "Tenant/beta"],
  },
  // Names and values
  {
    file: "name-not-dns-label.yaml",
    path: "tenants/Acme_Corp.internal.yaml",
    expect: [["VRS_NAME_INVALID", "metadata.name", 5, 9]],
    resources: [],
  },
  hook("secret-url-password.yaml", [["VRS_SECRET_INLINE", "spec.sinks[0].config.url", 16, 14]]),
  hook("secret-authorization-header.yaml", [
    ["VRS_SECRET_INLINE", "spec.sinks[0].config.headers.Authorization", 19, 26],
  ]),
  hook("secret-slack-token.yaml", [["VRS_SECRET_INLINE", 'spec.sinks[0].config.headers["x-slack"]', 18, 20]]),
  hook("secret-github-token.yaml", [["VRS_SECRET_INLINE", "spec.source.config.payload.auth.value", 14, 39]]),
  hook("secret-password-key.yaml", [
    ["VRS_SCHEMA_UNKNOWN_FIELD", "spec.sinks[0].config.password", 19, 9],
    ["VRS_SECRET_INLINE", "spec.sinks[0].config.password", 19, 19],
  ]),
  hook("cel-invalid.yaml", [
    ["VRS_CEL_INVALID", "spec.steps[0].config.when", 16, 15],
    ["VRS_CEL_INVALID", "spec.sinks[0].when", 20, 13],
  ]),
  hook("cel-not-bool.yaml", [
    ["VRS_CEL_NOT_BOOL", "spec.steps[0].when", 15, 13],
    ["VRS_CEL_NOT_BOOL", "spec.sinks[0].when", 22, 13],
  ]),
  hook("durations-invalid.yaml", [
    ["VRS_SCHEMA_TYPE", "spec.sinks[0].config.timeout", 17, 18],
    ["VRS_DURATION_INVALID", "spec.retry.initialBackoff", 19, 21],
    ["VRS_DURATION_INVALID", "spec.retry.maxBackoff", 20, 17],
    ["VRS_DURATION_INVALID", "spec.deadLetter.retention", 22, 16],
  ]),
  asAcme("sizes-invalid.yaml", [
    ["VRS_SIZE_INVALID", "spec.limits.payloadBytes", 8, 19],
    ["VRS_SIZE_INVALID", "spec.limits.jetstream.memoryBytes", 10, 20],
    ["VRS_SCHEMA_RANGE", "spec.limits.jetstream.storageBytes", 11, 21],
    ["VRS_SCHEMA_TYPE", "spec.limits.jetstream.streams", 12, 16],
  ]),
  asAcme("instances-on-shared.yaml", [
    ["VRS_FIELD_CONFLICT", "spec.instances", 8, 3],
    ["VRS_SCHEMA_RANGE", "spec.instances.min", 9, 10],
  ]),
  // Cross-file rules
  {
    file: "path-mismatch.yaml",
    path: "integrations/beta/wrong-name.yaml",
    with: [ACME, ["tenants/beta.yaml", tenantYaml("beta")]],
    expect: [
      ["VRS_REF_PATH_MISMATCH", "metadata.name", 5, 9],
      ["VRS_REF_PATH_MISMATCH", "metadata.tenant", 6, 11],
    ],
  },
  {
    file: "missing-tenant.yaml",
    path: "integrations/ghost/orders.yaml",
    expect: [["VRS_REF_TENANT_NOT_FOUND", "metadata.tenant", 6, 11]],
  },
  {
    file: "duplicate-names.yaml",
    path: "tenants/more.yaml",
    with: [ACME],
    expect: [
      ["VRS_REF_DUPLICATE_NAME", "metadata.name", 5, 9],
      ["VRS_REF_DUPLICATE_NAME", "metadata.name", 15, 9],
    ],
  },
  {
    file: "tenant-limit-exceeded.yaml",
    path: "tenants/acme.yaml",
    with: ["a", "b", "c"].map((n): [string, string] => [`integrations/acme/${n}.yaml`, integrationYaml("acme", n)]),
    expect: [
      ["VRS_LIMIT_INTEGRATIONS", "spec.limits.integrations", 8, 19],
      ["VRS_LIMIT_REPLICAS", "spec.limits.replicas", 9, 15],
    ],
  },
];
