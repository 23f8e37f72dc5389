/**
 * The one registry of error codes. Every finding and every operational error carries one of these codes.
 * Codes are stable: a retired code is never reused (docs/errors.md lists them; a test keeps both in step).
 *
 * `retry` says what a controller does when it meets the error: `stall` needs a human (a bad manifest),
 * `wait` retries after a delay (a lock held elsewhere), `transient` retries with backoff (a network blip).
 */
export type RetryClass = "stall" | "wait" | "transient";

export interface CodeInfo {
  readonly title: string;
  /** What the user should do about it. Appended to messages where the message alone would not say. */
  readonly hint: string;
  readonly retry: RetryClass;
}

const c = (title: string, hint: string, retry: RetryClass = "stall"): CodeInfo => ({ title, hint, retry });

export const CODES = {
  // File level
  VRS_FILE_TOO_LARGE: c("file exceeds the size limit", "split the file or remove what is not a manifest"),
  VRS_FILE_NOT_UTF8: c("file is not valid UTF-8 text", "save the file as UTF-8"),
  VRS_FILE_BINARY: c(
    "file is binary",
    "manifests must be YAML text; remove the file or move it out of tenants/ and integrations/",
  ),
  VRS_FILE_SYMLINK_OUTSIDE: c("symbolic link points outside the repository", "replace the link with the file itself"),
  VRS_FILE_SYMLINK_BROKEN: c(
    "symbolic link points to nothing in this revision",
    "commit the target or remove the link",
  ),
  VRS_FILE_UNSUPPORTED_TYPE: c(
    "entry is not a regular file",
    "special files (and links to folders) are not manifests; remove it",
  ),
  VRS_FILE_SUBMODULE: c(
    "git submodule in a manifest folder",
    "commit the manifests themselves instead of a submodule in tenants/ or integrations/",
  ),
  VRS_FILE_SYMLINK_UNSUPPORTED: c(
    "symbolic link in a manifest folder that is not a manifest file",
    "replace a linked folder with its files; a link may only stand for one .yaml/.yml manifest file",
  ),
  VRS_FILE_MISPLACED: c(
    "file is in the wrong place",
    "put tenants in tenants/<name>.yaml and integrations in integrations/<tenant>/<name>.yaml",
  ),
  VRS_REPO_TOO_MANY_FILES: c(
    "too many manifest files",
    "a repository holds at most 100,000 manifest files; split it into several repositories",
  ),
  // YAML level
  VRS_YAML_SYNTAX: c("invalid YAML", "fix the YAML syntax at the position shown"),
  VRS_YAML_DUPLICATE_KEY: c("duplicate key", "remove one of the two keys; YAML keys must be unique in a mapping"),
  VRS_YAML_ALIAS_LIMIT: c("too many alias expansions", "remove anchors and aliases (&name / *name); write values out"),
  VRS_YAML_TOO_DEEP: c("document is nested too deeply", "flatten the document"),
  VRS_YAML_FORBIDDEN_KEY: c("forbidden key", "rename the key; __proto__, constructor and prototype are not allowed"),
  VRS_YAML_EMPTY: c("document is empty", "remove the empty document or file"),
  VRS_YAML_NOT_MAPPING: c(
    "document is not a mapping",
    "a manifest is a mapping with apiVersion, kind, metadata and spec",
  ),
  VRS_YAML_UNSUPPORTED_TAG: c("unsupported YAML tag", "remove the tag; manifests use plain YAML values only"),
  // Manifest shape
  VRS_MANIFEST_API_VERSION: c("unknown apiVersion", "use apiVersion: vrsky.io/v1"),
  VRS_MANIFEST_KIND: c("unknown kind", "use kind: Tenant or kind: Integration"),
  VRS_SCHEMA_REQUIRED: c("required field missing", "add the field"),
  VRS_SCHEMA_UNKNOWN_FIELD: c("unknown field", "remove the field or fix its spelling"),
  VRS_SCHEMA_TYPE: c("wrong type", "change the value to the expected type"),
  VRS_SCHEMA_ENUM: c("value not allowed", "use one of the allowed values"),
  VRS_SCHEMA_PATTERN: c("value does not match the required pattern", "change the value to match the pattern"),
  VRS_SCHEMA_RANGE: c("value out of range", "change the value to lie within the allowed range"),
  VRS_SCHEMA_LENGTH: c("value has the wrong length", "shorten or lengthen the value as stated"),
  VRS_SCHEMA_INVALID: c("value does not match the schema", "see docs/manifests.md for the field"),
  VRS_NAME_INVALID: c(
    "invalid name",
    "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
  ),
  VRS_DURATION_INVALID: c("invalid duration", "write a duration such as 500ms, 30s, 5m, 2h or 7d"),
  VRS_SIZE_INVALID: c("invalid size", "write a size in bytes (1048576) or with a unit such as 64KiB, 1MiB, 1GiB, 10MB"),
  VRS_CEL_INVALID: c(
    "expression does not compile",
    "fix the CEL expression; variables are body, headers and attributes",
  ),
  VRS_CEL_NOT_BOOL: c("condition is not boolean", "a condition must evaluate to true or false"),
  VRS_TEMPLATE_INVALID: c("template does not compile", "fix the {{ expression }} placeholders"),
  VRS_SECRET_INLINE: c(
    "value looks like a credential",
    "store the credential as a secret and reference it with secretRef",
  ),
  VRS_FIELD_CONFLICT: c("fields conflict", "remove one of the conflicting fields"),
  // Cross references
  VRS_REF_TENANT_NOT_FOUND: c("tenant does not exist", "create tenants/<tenant>.yaml or fix metadata.tenant"),
  VRS_REF_DUPLICATE_NAME: c("name is used twice", "rename one of the resources"),
  VRS_REF_PATH_MISMATCH: c("file path does not match metadata", "rename the file or fix metadata so that they agree"),
  VRS_LIMIT_INTEGRATIONS: c(
    "tenant integration limit exceeded",
    "raise spec.limits.integrations of the tenant or remove integrations",
  ),
  VRS_LIMIT_REPLICAS: c("replicas exceed the tenant's capacity", "lower spec.replicas or raise the tenant's limits"),
  // Operational (not findings): exit code 2
  VRS_GIT_NOT_A_REPO: c("not a git repository", "pass --repo with the path of a git repository", "stall"),
  VRS_GIT_BAD_REF: c("revision not found", "pass a branch, tag or commit id that exists in the repository", "stall"),
  VRS_GIT_FAILED: c("git command failed", "check that git is installed and the repository is readable", "transient"),
  VRS_USAGE: c("invalid command line", "see --help", "stall"),
  VRS_NATS_SERVER_MISSING: c(
    "nats-server is not installed",
    "install it: sudo apt-get install -y nats-server (or pass --nats URL of a running server)",
    "stall",
  ),
  VRS_NATS_SERVER_FAILED: c("nats-server did not start", "read the server log named in the message", "transient"),
  VRS_PROVISION_FAILED: c(
    "tenant instance could not be provisioned",
    "read the message; for Kubernetes check the kubeconfig and the reconciler's RBAC (docs/operations.md), for local processes the instance's log",
    "transient",
  ),
  VRS_NATS_UNAVAILABLE: c(
    "cannot reach NATS",
    "check --nats URL and --creds, and that the server runs with JetStream",
    "transient",
  ),
  VRS_STATE_NOT_FOUND: c(
    "no VRSky state on this NATS server",
    "start a reconciler (vrsky reconcile or vrsky up) against this server first; check that --creds name the platform account",
    "wait",
  ),
  VRS_KEYS_EXIST: c(
    "key directory is not empty",
    "choose a new or empty directory for --keys; existing keys are never overwritten",
    "stall",
  ),
  VRS_KEYS_MISSING: c(
    "key directory or key file missing",
    "pass --keys with a directory created by vrsky init",
    "stall",
  ),
  VRS_KEYS_INVALID: c(
    "key directory is damaged",
    "restore the key directory from its backup; its files must come from one vrsky init",
    "stall",
  ),
  VRS_KEYS_TRACKED: c(
    "key directory is tracked by git",
    "its secrets are (or will be) in git history: untrack it (git rm -r --cached <dir>), commit, and create new keys with vrsky init if it was ever pushed",
    "stall",
  ),
  VRS_ACCOUNT_PUSH_FAILED: c(
    "account JWT not accepted by the NATS resolver",
    "check that the server runs in operator mode with a full resolver and trusts this operator (nats-server.conf from vrsky init)",
    "transient",
  ),
  VRS_ACCOUNT_DELETE_FAILED: c(
    "account could not be deleted from the NATS resolver",
    "check that the resolver has allow_delete: true and trusts this operator",
    "transient",
  ),
  // errors helper
  VRS_WRITE_FAILED: c(
    "cannot write a file or folder",
    "check that the parent folder exists and is writable and that the disk is not full",
    "stall",
  ),
  VRS_WORKTREE_INVALID: c(
    "working tree cannot be read",
    "pass --repo with the repository's top folder, which holds tenants/ and integrations/ readable by this user",
    "stall",
  ),
  VRS_CREDS_INVALID: c(
    "credentials file cannot be read",
    "pass --creds with a creds file from vrsky init or vrsky creds that this user may read",
    "stall",
  ),
  VRS_CREDS_NOT_PLATFORM: c(
    "credentials are not a user of the platform account",
    "pass --creds with the platform.creds of the --keys folder (or a worker's creds from vrsky creds --worker), or leave --creds out",
    "stall",
  ),
  VRS_CREDS_WRITABLE: c(
    "credentials can write where read-only ones are required",
    "issue read-only platform credentials with vrsky creds --reader --keys DIR and pass those",
    "stall",
  ),
  VRS_LISTEN_FAILED: c(
    "cannot serve on the address",
    "pass --listen with a free host:port such as 127.0.0.1:9464 (port 0 picks a free one)",
    "stall",
  ),
  VRS_PUBLIC_KEY_INVALID: c(
    "not a public key of the expected kind",
    "give the public key as vrsky creds printed it: 56 characters, U... for a user, A... for an account",
    "stall",
  ),
  VRS_KEY_GENERATION_INVALID: c(
    "invalid account key generation",
    "set the tenant's spec.accountKeyGeneration (vrsky creds: --generation) to a whole number from 0",
    "stall",
  ),
  VRS_CREDS_TTL_INVALID: c(
    "credential lifetime out of range",
    "give tenant credentials a lifetime from 1s to 30d",
    "stall",
  ),
  VRS_ACCOUNT_PROTECTED: c(
    "the system and platform accounts cannot be deleted",
    "leave them out of the accounts to delete: they belong to the installation, not to a tenant",
    "stall",
  ),
  VRS_JWT_INVALID: c(
    "not a valid NATS JWT",
    "the JWT is damaged or not signed by its issuer: restore it from a backup or issue it again",
    "stall",
  ),
  VRS_TENANT_NOT_DISCOVERED: c(
    "tenant has no discovery entry",
    "the reconciler writes it when it applies the tenant: check that the tenant exists at the applied revision (vrsky status)",
    "wait",
  ),
  VRS_TENANT_UNAVAILABLE: c(
    "tenant has no server to connect to",
    "a dedicated tenant's instances are not ready yet: check the provisioner's log and vrsky status",
    "wait",
  ),
  // message processing: a step or sink condition failed on one message, which goes to the dead letters
  VRS_MSG_FIELD_MISSING: c(
    "field missing from the message",
    "guard the expression with has(...) or the optional operator .?, or fix what the sender sends",
  ),
  VRS_MSG_EVAL_FAILED: c(
    "expression failed on the message",
    "fix the expression for messages like this one (types, division by zero, index out of range)",
  ),
  VRS_MSG_NOT_BOOL: c(
    "condition did not yield true or false",
    "make the condition yield a boolean for every message, e.g. compare with == or test with has(...)",
  ),
  VRS_MSG_NOT_LIST: c("split items are not a list", "make the split's items yield a list, e.g. body.lines"),
  VRS_MSG_TOO_MANY_ITEMS: c(
    "split yields too many messages",
    "raise the split's maxItems (at most 100000) or send smaller batches",
  ),
  VRS_MSG_NOT_JSON: c(
    "result is not valid JSON",
    "convert the value in the expression (an integer beyond 2^53, NaN, infinity or a type is not JSON), or make the template's text match its JSON content type",
  ),
  VRS_MSG_TARGET_INVALID: c(
    "map target cannot be set",
    "the body (merge mode) or the parent of a dotted target is not an object; map to another field",
  ),
  VRS_MSG_NOT_XML: c(
    "body is not XML that the step can convert",
    "send well-formed XML whose root element is the step's rootElement, or a JSON object whose keys are XML names",
  ),
  VRS_MSG_XML_DOCTYPE: c(
    "XML document declares a DOCTYPE",
    "DOCTYPE declarations (and with them entity definitions) are refused; send the document without one",
  ),
  VRS_MSG_NOT_CSV: c(
    "body is not CSV text the step can read",
    "send CSV text with a header row (or set columns), with column names other than __proto__",
  ),
  VRS_MSG_CSV_ROW: c(
    "CSV row cannot be read",
    "the row (its line is in the error) goes to the dead letters while the other rows go on; fix the row and send it again",
  ),
  VRS_STEP_NOT_AVAILABLE: c(
    "step type is not available yet",
    "this version has no runtime for the step type; remove the step, or expect every message that reaches it in the dead letters",
  ),
  // sinks and the data plane: a `transient` failure is retried with the integration's backoff, a `stall` goes to the
  // dead letters at once
  VRS_FILE_ROOT_MISSING: c(
    "no directory is allowed for the tenant's file connectors",
    "the operator sets a root for file connectors: vrsky worker --file-root DIR (each tenant gets the folder DIR/TENANT)",
  ),
  VRS_FILE_PATH_OUTSIDE_ROOT: c(
    "file connector path is outside the tenant's allowed root",
    "use a directory under the tenant's root (relative paths are taken from it); no '..', no link that leads out",
  ),
  VRS_SINK_UNAVAILABLE: c(
    "sink could not be reached or answered with a server error",
    "the message is retried with backoff and dead-lettered after spec.retry.maxAttempts; check the receiver",
    "transient",
  ),
  VRS_SINK_TIMEOUT: c(
    "sink did not answer in time",
    "the message is retried with backoff; raise the sink's timeout or check the receiver",
    "transient",
  ),
  VRS_SINK_REJECTED: c(
    "sink rejected the message",
    "the receiver answered with a client error (4xx other than 408 and 429): fix the message or the sink's config, then replay the dead letter",
  ),
  VRS_SINK_ADDRESS_BLOCKED: c(
    "sink address is not allowed",
    "link-local, loopback, private-metadata and unspecified addresses are refused; an operator can allow them with --allow-private-sinks",
  ),
  VRS_SINK_SECRET_INVALID: c(
    "sink secret cannot be used",
    "the secret must be a header value (Authorization) or an http(s) URL without credentials; reseal it with vrsky secret seal",
  ),
  VRS_SINK_NOT_AVAILABLE: c(
    "sink type is not available yet",
    "this version has no runtime for the sink type; every message routed to it goes to the dead letters: replay them after an upgrade",
  ),
  VRS_PAYLOAD_INVALID: c(
    "message body cannot be read",
    "the body is not valid UTF-8, or not valid JSON under a JSON content type, or not a message VRSky stored: fix the sender or its Content-Type",
  ),
  VRS_STREAMS_NOT_READY: c(
    "integration's streams or consumer do not exist yet",
    "the reconciler creates them with the integration; the worker retries: check the StreamsReady condition in vrsky status",
    "wait",
  ),
  VRS_PAYLOAD_MISSING: c(
    "large message body is gone from the object store",
    "the body expired or was removed; ask the sender to send the message again",
  ),
  VRS_STREAM_LIMITS: c(
    "integration streams do not fit the tenant's JetStream limits",
    "raise spec.limits.jetstream of the tenant, or remove integrations; each integration needs 3 streams (ingest, dead letters, large payloads) and the tenant 1 (traces)",
    "wait",
  ),
  VRS_DEAD_LETTER_NOT_FOUND: c(
    "no such dead letter",
    "list the dead letters with vrsky dlq list --tenant T --integration I and use an id from it",
  ),
  VRS_TRACE_NOT_FOUND: c(
    "no trace of the message",
    "check the message id and the integration; traces are kept for 24 hours (use --since to search further back)",
  ),
  VRS_INTEGRATION_NOT_FOUND: c(
    "integration has no data-plane streams",
    "check --tenant and --integration (vrsky status --resources lists them) and, in operator mode, pass --keys DIR to reach the tenant's account; the reconciler creates the streams when it applies the integration",
    "wait",
  ),
  // fixture tests
  VRS_FIXTURE_MISPLACED: c(
    "fixture file is in the wrong place",
    "put the tests of integrations/<tenant>/<name>.yaml in integrations/<tenant>/<name>.test.yaml",
  ),
  VRS_FIXTURE_INTEGRATION_NOT_FOUND: c(
    "fixture tests an integration that does not exist",
    "name the file after an integration of the tenant: integrations/<tenant>/<name>.test.yaml",
  ),
  VRS_FIXTURE_STEP_NOT_FOUND: c(
    "fixture names a step that does not exist",
    "name a step of the integration by its name or its index in spec.steps (0-based)",
  ),
  VRS_FIXTURE_SINK_NOT_FOUND: c("fixture names a sink that does not exist", "use a sink name of the integration"),
  VRS_FIXTURE_DUPLICATE_CASE: c("two test cases have the same name", "give each case of the file its own name"),
  // worker
  VRS_WORKER_STOPPED: c(
    "worker stopped before it registered",
    "nothing to do: it was asked to stop while it waited to register",
    "stall",
  ),
  VRS_WORKER_START_TIMEOUT: c(
    "replica did not start in time",
    "the worker retries with backoff; read its log for a slow or unreachable tenant server",
    "transient",
  ),
  VRS_WORKER_TENANT_UNREACHABLE: c(
    "tenant servers cannot be reached",
    "check the tenant's discovery entry (vrsky status) and that its servers run; the worker retries",
    "transient",
  ),
  VRS_WORKER_CREDS_REFUSED: c(
    "platform refused the worker a user in the tenant's account",
    "read the reason; a worker that is not registered or assigned yet retries with backoff",
    "transient",
  ),
  // reconciler
  VRS_LEASE_HELD: c(
    "another reconciler holds the leader lease",
    "stop the other reconciler, or run without --once to stand by until the lease is free",
    "wait",
  ),
  VRS_MODE_MISMATCH: c(
    "the reconciler's mode differs from the fleet's",
    "run every reconciler of a fleet with the same --keys directory, or every one without --keys (docs/state.md, fleet mode)",
  ),
  // secrets
  VRS_SECRET_MISSING: c(
    "secret does not exist",
    "seal it with vrsky secret seal and commit it (or add the file to the secrets folder); check the secretRef's spelling",
    "wait",
  ),
  VRS_SECRET_OUTSIDE: c(
    "secret path leaves the tenant's secrets folder",
    "replace the link with the file itself: each tenant's secrets live in its own folder",
    "stall",
  ),
  VRS_SECRET_UNREADABLE: c(
    "secret cannot be read or decrypted",
    "seal the secret again for this installation's recipient (vrsky secret seal --keys DIR) and commit it",
    "stall",
  ),
  VRS_SECRET_KEY_MISSING: c(
    "key folder has no secrets identity",
    "create it with vrsky secret keygen --keys DIR, then seal the secrets again for its recipient",
    "stall",
  ),
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export function codeInfo(code: Code): CodeInfo {
  return CODES[code];
}
