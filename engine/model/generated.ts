/* Generated from schemas/ by `npm run gen:types`. Do not edit by hand. */

export type HTTPSink = {
  [k: string]: unknown | undefined;
} & {
  /**
   * Target URL; no credentials in it.
   */
  url?: string;
  method?: "POST" | "PUT" | "PATCH" | "DELETE" | "GET";
  /**
   * Extra headers; credentials go through secretRef.
   */
  headers?: {
    [k: string]: string | undefined;
  };
  /**
   * Secret whose value is sent as the Authorization header, or the whole URL for webhook URLs that embed a token.
   */
  secretRef?: string;
  /**
   * A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).
   */
  timeout?: string;
  successStatus?: number[];
};

export interface VrskySchemas {
  "connectors/sink-file.schema.json"?: FileSink;
  "connectors/sink-http.schema.json"?: HTTPSink;
  "connectors/sink-nats.schema.json"?: NATSSink;
  "connectors/sink-postgres.schema.json"?: PostgreSQLSink;
  "connectors/source-file.schema.json"?: FileDirectorySource;
  "connectors/source-http.schema.json"?: HTTPWebhookSource;
  "connectors/source-nats.schema.json"?: NATSSubjectSource;
  "connectors/source-postgres-cdc.schema.json"?: PostgreSQLChangeDataCaptureSource;
  "connectors/source-timer.schema.json"?: TimerSource;
  "connectors/step-csv.schema.json"?: CSVToJSONStep;
  "connectors/step-filter.schema.json"?: FilterStep;
  "connectors/step-map.schema.json"?: MappingStep;
  "connectors/step-split.schema.json"?: SplitStep;
  "connectors/step-template.schema.json"?: TemplateStep;
  "connectors/step-xml.schema.json"?: XMLConversionStep;
  "integration-test.schema.json"?: IntegrationTests;
  "integration.schema.json"?: Integration;
  "tenant.schema.json"?: Tenant;
}
export interface FileSink {
  directory: string;
  /**
   * File name template with {{ expression }} placeholders (CEL).
   */
  filename?: string;
  format?: "json" | "raw";
}
export interface NATSSink {
  /**
   * Subject within the tenant's account.
   */
  subject: string;
  /**
   * Publish to JetStream and wait for the acknowledgement.
   */
  jetstream?: boolean;
  headers?: {
    [k: string]: string | undefined;
  };
}
export interface PostgreSQLSink {
  /**
   * Host name or address.
   */
  host: string;
  port?: number;
  database: string;
  user: string;
  /**
   * Secret holding the password.
   */
  secretRef?: string;
  table: string;
  mode?: "insert" | "upsert";
  /**
   * Conflict columns for upsert.
   *
   * @minItems 1
   */
  key?: [string, ...string[]];
  /**
   * Column to CEL expression; default: the body's fields of the same name.
   */
  columns?: {
    /**
     * A CEL expression over the message (body, headers, attributes).
     */
    [k: string]: string | undefined;
  };
  batchSize?: number;
  sslmode?: "disable" | "prefer" | "require" | "verify-full";
}
export interface FileDirectorySource {
  /**
   * Directory to read files from.
   */
  directory: string;
  /**
   * Glob of file names to pick up.
   */
  pattern?: string;
  /**
   * A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).
   */
  pollInterval?: string;
  format?: "json" | "text" | "binary" | "csv" | "xml";
  afterRead?: "delete" | "move" | "keep";
  /**
   * Directory to move processed files to (afterRead: move).
   */
  moveTo?: string;
}
export interface HTTPWebhookSource {
  /**
   * URL path the webhook listens on, under the tenant's prefix.
   */
  path: string;
  /**
   * @minItems 1
   */
  methods?: ["POST" | "PUT" | "PATCH", ...("POST" | "PUT" | "PATCH")[]];
  /**
   * A size in bytes: an integer, or a number with a unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
   */
  maxBodyBytes?: number | string;
  /**
   * Reject requests whose HMAC signature does not match.
   */
  signature?: {
    algorithm?: "hmac-sha256" | "hmac-sha1";
    header?: string;
    prefix?: string;
    /**
     * The name of a secret held by the platform, never its value.
     */
    secretRef: string;
  };
  responseStatus?: number;
}
export interface NATSSubjectSource {
  /**
   * Subject within the tenant's account; wildcards * and > allowed.
   */
  subject: string;
  /**
   * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
   */
  queue?: string;
  /**
   * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
   */
  stream?: string;
}
export interface PostgreSQLChangeDataCaptureSource {
  /**
   * Host name or address.
   */
  host: string;
  port?: number;
  database: string;
  user: string;
  /**
   * The name of a secret held by the platform, never its value.
   */
  secretRef?: string;
  /**
   * Logical replication slot name.
   */
  slot: string;
  /**
   * Publication to stream changes of.
   */
  publication: string;
  tables?: string[];
  operations?: ("insert" | "update" | "delete")[];
  sslmode?: "disable" | "prefer" | "require" | "verify-full";
}
export interface TimerSource {
  /**
   * Emit a message this often.
   */
  interval: string;
  /**
   * The body of each message.
   */
  payload?: {
    [k: string]: unknown | undefined;
  };
}
export interface CSVToJSONStep {
  delimiter?: string;
  /**
   * The first row names the columns.
   */
  header?: boolean;
  /**
   * Column names when there is no header row.
   */
  columns?: string[];
  /**
   * array: one message with all rows. rows: one message per row.
   */
  emit?: "array" | "rows";
}
export interface FilterStep {
  /**
   * Keep the message only when this holds; others are acknowledged and dropped.
   */
  when: string;
}
export interface MappingStep {
  /**
   * Target field (dotted path in the output body) to CEL expression over the input message.
   */
  fields: {
    /**
     * A CEL expression over the message (body, headers, attributes).
     */
    [k: string]: string | undefined;
  };
  /**
   * replace: the output body holds only the mapped fields. merge: mapped fields are set on the input body.
   */
  mode?: "replace" | "merge";
}
export interface SplitStep {
  /**
   * A CEL expression over the message (body, headers, attributes).
   */
  items: string;
  maxItems?: number;
  description?: "@maxItems [object Object]";
  minItems?: 0;
}
export interface TemplateStep {
  /**
   * Text with {{ expression }} placeholders (CEL).
   */
  template: string;
  contentType?: string;
}
export interface XMLConversionStep {
  direction: "xml-to-json" | "json-to-xml";
  rootElement?: string;
  attributePrefix?: string;
  /**
   * Element paths that are always lists.
   */
  arrays?: string[];
}
/**
 * Fixture tests of one integration: integrations/<tenant>/<name>.test.yaml tests integrations/<tenant>/<name>.yaml. Run them with `vrsky test`; see docs/testing.md.
 */
export interface IntegrationTests {
  apiVersion: "vrsky.io/v1";
  /**
   * @minItems 1
   * @maxItems 1000
   */
  cases: [FixtureCase, ...FixtureCase[]];
}
export interface FixtureCase {
  /**
   * Unique within the file.
   */
  name: string;
  input: FixtureInput;
  expect: FixtureExpectation;
}
/**
 * The message the source hands to the steps.
 */
export interface FixtureInput {
  /**
   * Default: case-<n>, n counting from 1.
   */
  id?: string;
  /**
   * The body: any value; a string is text unless contentType is JSON.
   */
  body: null | boolean | number | string | unknown[] | {};
  /**
   * Default: application/json, or text/plain when the body is a string.
   */
  contentType?: string;
  headers?: {
    [k: string]: string | undefined;
  };
  /**
   * Attributes besides the defaults (source: the integration's source type; receivedAt: 2000-01-01T00:00:00.000Z), e.g. subject. attributes.id is always the message id.
   */
  attributes?: {};
}
/**
 * Exactly one of: what each sink receives, that the message is filtered, or that it is dead-lettered.
 */
export interface FixtureExpectation {
  /**
   * Sink name to the messages it receives, in order. A sink not listed must receive nothing.
   */
  sinks?: {
    /**
     * @maxItems 10000
     */
    [k: string]: FixtureReceived[] | undefined;
  };
  /**
   * The message is dropped (by a filter, or a split of an empty list); `step` says by which.
   */
  filtered?: {
    /**
     * A step of the integration: its name, or its index in spec.steps (0-based).
     */
    step?: string | number;
  };
  /**
   * A step or a sink's condition fails on the message: it goes to the dead letters.
   */
  dead?: {
    /**
     * A step of the integration: its name, or its index in spec.steps (0-based).
     */
    step?: string | number;
    /**
     * A sink whose `when` fails.
     */
    sink?: string;
    code?:
      | "VRS_MSG_FIELD_MISSING"
      | "VRS_MSG_EVAL_FAILED"
      | "VRS_MSG_NOT_BOOL"
      | "VRS_MSG_NOT_LIST"
      | "VRS_MSG_TOO_MANY_ITEMS"
      | "VRS_MSG_NOT_JSON"
      | "VRS_MSG_TARGET_INVALID"
      | "VRS_STEP_NOT_AVAILABLE";
  };
}
/**
 * A message a sink receives; only the fields given are compared.
 */
export interface FixtureReceived {
  id?: string;
  /**
   * Compared exactly.
   */
  body?: null | boolean | number | string | unknown[] | {};
  contentType?: string;
  /**
   * Only these headers are compared; null: the header must be absent.
   */
  headers?: {
    [k: string]: string | null | undefined;
  };
}
/**
 * A VRSky integration: a source, steps and sinks run by workers. File: integrations/<tenant>/<name>.yaml.
 */
export interface Integration {
  apiVersion: "vrsky.io/v1";
  kind: "Integration";
  metadata: {
    /**
     * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
     */
    name: string;
    /**
     * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
     */
    tenant: string;
    labels?: Labels;
    annotations?: Labels;
  };
  spec: {
    /**
     * How many workers run the integration at once.
     */
    replicas?: number;
    /**
     * Stop running the integration; keep its data.
     */
    suspend?: boolean;
    source: {
      /**
       * The kind of source.
       */
      type: "http" | "file" | "postgres-cdc" | "nats" | "timer";
      config?: {};
    };
    /**
     * @maxItems 64
     */
    steps?: {
      /**
       * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
       */
      name?: string;
      type: "map" | "filter" | "xml" | "csv" | "template" | "split";
      /**
       * Apply the step only when this condition holds.
       */
      when?: string;
      config?: {};
    }[];
    /**
     * @minItems 1
     * @maxItems 32
     */
    sinks: [
      {
        /**
         * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
         */
        name: string;
        type: "http" | "file" | "postgres" | "nats";
        /**
         * Route to this sink only when this condition holds.
         */
        when?: string;
        config?: {};
      } & {
        /**
         * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
         */
        name: string;
        type: "http" | "file" | "postgres" | "nats";
        /**
         * Route to this sink only when this condition holds.
         */
        when?: string;
        config?: {};
      },
      ...({
        /**
         * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
         */
        name: string;
        type: "http" | "file" | "postgres" | "nats";
        /**
         * Route to this sink only when this condition holds.
         */
        when?: string;
        config?: {};
      } & {
        /**
         * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
         */
        name: string;
        type: "http" | "file" | "postgres" | "nats";
        /**
         * Route to this sink only when this condition holds.
         */
        when?: string;
        config?: {};
      })[]
    ];
    retry?: {
      maxAttempts?: number;
      /**
       * A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).
       */
      initialBackoff?: string;
      /**
       * A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).
       */
      maxBackoff?: string;
      multiplier?: number;
    };
    deadLetter?: {
      enabled?: boolean;
      /**
       * A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).
       */
      retention?: string;
    };
  };
}
/**
 * Free-form key/value labels, for selection and display.
 */
export interface Labels {
  [k: string]: string | undefined;
}
/**
 * A VRSky tenant: one NATS account, its limits, and where it runs. File: tenants/<name>.yaml.
 */
export interface Tenant {
  apiVersion: "vrsky.io/v1";
  kind: "Tenant";
  metadata: {
    /**
     * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
     */
    name: string;
    labels?: Labels;
    annotations?: Labels;
  };
  spec?: {
    /**
     * shared: the tenant lives on the shared NATS servers. dedicated: it gets NATS instances of its own.
     */
    tier?: "shared" | "dedicated";
    /**
     * Stop running the tenant's integrations; keep all its data.
     */
    suspend?: boolean;
    limits?: {
      /**
       * Most integrations the tenant may have.
       */
      integrations?: number;
      /**
       * Most integration replicas in total; -1 for no limit.
       */
      replicas?: number;
      /**
       * A count; -1 means unlimited.
       */
      connections?: number;
      /**
       * A count; -1 means unlimited.
       */
      subscriptions?: number;
      /**
       * Largest message, in bytes.
       */
      payloadBytes?: number | string;
      jetstream?: {
        /**
         * A size in bytes: an integer, or a number with a unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
         */
        memoryBytes?: number | string;
        /**
         * A size in bytes: an integer, or a number with a unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).
         */
        storageBytes?: number | string;
        /**
         * A count; -1 means unlimited.
         */
        streams?: number;
        /**
         * A count; -1 means unlimited.
         */
        consumers?: number;
      };
    };
    /**
     * Dedicated tier only: bounds for the tenant's own NATS instances.
     */
    instances?: {
      min?: number;
      max?: number;
      integrationsPerInstance?: number;
    };
    /**
     * Dedicated tier only: which workers run the tenant's integrations.
     */
    placement?: {
      /**
       * Run this tenant's integrations only on workers whose labels include every pair (dedicated tier only).
       */
      workerLabels: {
        [k: string]: string | undefined;
      };
    };
    /**
     * Keys for the read-only status API: only the SHA-256 of each key, never the key.
     *
     * @maxItems 32
     */
    apiKeys?: {
      /**
       * A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.
       */
      name: string;
      /**
       * Lowercase hex SHA-256 of the key.
       */
      sha256: string;
    }[];
    /**
     * Raise to rotate the tenant's NATS account key.
     */
    accountKeyGeneration?: number;
  };
}
