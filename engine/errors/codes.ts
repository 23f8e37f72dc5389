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
    "submodules and special files are not manifests; remove it",
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
    "read the message; for Kubernetes check kubectl access, for local processes the instance's log",
    "transient",
  ),
  VRS_NATS_UNAVAILABLE: c(
    "cannot reach NATS",
    "check --nats URL and --creds, and that the server runs with JetStream",
    "transient",
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
  // reconciler
  VRS_LEASE_HELD: c(
    "another reconciler holds the leader lease",
    "stop the other reconciler, or run without --once to stand by until the lease is free",
    "wait",
  ),
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export function codeInfo(code: Code): CodeInfo {
  return CODES[code];
}
