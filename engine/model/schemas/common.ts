/** Definitions shared by the Tenant, Integration and connector schemas (schemas/common.schema.json). */

// Durations and sizes are checked by the custom formats `vrsky-duration` and `vrsky-size` (engine/manifests/
// durations.ts parses them); validators that do not know those formats ignore them, so each also carries a
// `pattern` with the same syntax (ASCII digits, no lookaround, for any regular expression dialect). Only the
// formats check magnitudes: at most 366d, and a size that comes to whole bytes (`1.5KiB`, not `1.5B`).
const NUMBER = "[0-9]+(\\.[0-9]+)?";
const DURATION_UNITS = ["d", "h", "m", "s", "ms"];
/** Each unit at most once, largest first, at least one: `d(h)?(m)?(s)?(ms)?|h(m)?(s)?(ms)?|...|ms`. */
export const DURATION_PATTERN = `^(${DURATION_UNITS.map((first, i) =>
  [`${NUMBER}${first}`, ...DURATION_UNITS.slice(i + 1).map((u) => `(${NUMBER}${u})?`)].join(""),
).join("|")})$`;
/** A number with an optional unit, spaces around it allowed: `1048576`, `64KiB`, `1 MB`, `512Mi`. */
export const SIZE_PATTERN = `^\\s*${NUMBER}\\s*(B|[KMGT]i?B|[KMGT]i)?\\s*$`;

export const commonSchema = {
  title: "VRSky common definitions",
  $defs: {
    name: {
      type: "string",
      description:
        "A DNS-label-like name: lowercase letters, digits and '-', 1 to 63 characters, starting and ending with a letter or digit. Safe for NATS subjects, KV keys, file names and Kubernetes names.",
      pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    },
    labels: {
      type: "object",
      description: "Free-form key/value labels, for selection and display.",
      propertyNames: {
        pattern: "^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
      },
      additionalProperties: { type: "string", maxLength: 253 },
      maxProperties: 64,
    },
    duration: {
      type: "string",
      format: "vrsky-duration",
      pattern: DURATION_PATTERN,
      description: "A duration: a number with a unit ms, s, m, h or d; units may be combined (1m30s).",
      examples: ["500ms", "30s", "5m", "1h30m", "7d"],
      "x-vrsky-normalize": "duration",
    },
    size: {
      type: ["integer", "string"],
      minimum: 0,
      format: "vrsky-size",
      pattern: SIZE_PATTERN,
      description:
        "A size in bytes: an integer, or a number with a unit B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024).",
      examples: [1048576, "64KiB", "1MiB", "10GB"],
      "x-vrsky-normalize": "size",
    },
    condition: {
      type: "string",
      minLength: 1,
      maxLength: 4096,
      description: "A CEL expression over the message (body, headers, attributes) that evaluates to a boolean.",
      examples: ["body.total > 100", "headers['x-source'] == 'shop'"],
    },
    expression: {
      type: "string",
      minLength: 1,
      maxLength: 4096,
      description: "A CEL expression over the message (body, headers, attributes).",
    },
    secretRef: {
      type: "string",
      description: "The name of a secret held by the platform, never its value.",
      pattern: "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    },
    limit: { type: "integer", minimum: -1, description: "A count; -1 means unlimited." },
  },
} as const;

const DEFS = "common.schema.json#/$defs/";

/**
 * The definitions above as the Tenant and Integration schemas refer to them (their files sit next to
 * common.schema.json; connector schemas, one folder down, use `common` of the connector SDK).
 */
export const defs = {
  name: { $ref: `${DEFS}name` },
  labels: { $ref: `${DEFS}labels` },
  duration: { $ref: `${DEFS}duration` },
  size: { $ref: `${DEFS}size` },
  condition: { $ref: `${DEFS}condition` },
  limit: { $ref: `${DEFS}limit` },
} as const;
