import type { PathSegment } from "./json-path.js";

/**
 * Heuristics for credentials written into a manifest. A manifest is public to everyone who reads the
 * repository, so anything that looks like a secret is an error; the fix is always a `secretRef`.
 */

const SECRET_KEY =
  /^(password|passwd|pwd|secret|client[-_]?secret|token|access[-_]?token|api[-_]?key|apikey|private[-_]?key|credentials?|auth)$/i;
const AUTH_HEADER = /^(authorization|proxy-authorization|x-api-key|api-key|x-auth-token|cookie)$/i;
const TOKEN_PATTERNS: Array<[RegExp, string]> = [
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, "a Slack token"],
  [/hooks\.slack\.com\/services\/[A-Z0-9]+\/[A-Z0-9]+\/[A-Za-z0-9]+/, "a Slack webhook URL (the path is the secret)"],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/, "a GitHub token"],
  [/\bgithub_pat_[A-Za-z0-9_]{30,}/, "a GitHub token"],
  [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key id"],
  [/\b[sr]k_(live|test)_[A-Za-z0-9]{16,}/, "a Stripe key"],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, "a JSON Web Token"],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
  [/\bSU[A-Z2-7]{56}\b/, "a NATS nkey seed"],
  [/^(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{12,}$/i, "an authorization header value"],
];

export interface CredentialHit {
  path: PathSegment[];
  what: string;
}

export interface CredentialScan {
  /** Keys whose entries map names to CEL expressions (map `fields`, postgres `columns`): their key names are data, not secrets. */
  expressionMaps?: string[];
  /** Judge values only, never key names (metadata labels and annotations). */
  valuesOnly?: boolean;
}

/** Walks a config value and returns every place that holds something that looks like a credential. */
export function findCredentials(value: unknown, base: PathSegment[], scan: CredentialScan = {}): CredentialHit[] {
  const hits: CredentialHit[] = [];
  const exprMaps = new Set(scan.expressionMaps ?? []);
  const stack: Array<{ v: unknown; path: PathSegment[]; key?: string; parentKey?: string; keysAreData?: boolean }> = [
    { v: value, path: base, keysAreData: scan.valuesOnly },
  ];
  while (stack.length > 0) {
    const { v, path, key, parentKey, keysAreData } = stack.pop()!;
    if (typeof v === "string") {
      const what = keysAreData ? classify(v, undefined, undefined) : classify(v, key, parentKey);
      if (what) hits.push({ path, what });
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: [...path, i], parentKey: key, keysAreData }));
    } else if (v !== null && typeof v === "object") {
      const childKeysAreData = keysAreData || (key !== undefined && exprMaps.has(key));
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        stack.push({ v: item, path: [...path, k], key: k, parentKey: key, keysAreData: childKeysAreData });
      }
    }
  }
  return hits.sort((a, b) => String(a.path).localeCompare(String(b.path)));
}

function classify(s: string, key: string | undefined, parentKey: string | undefined): string | undefined {
  if (key !== undefined && SECRET_KEY.test(key) && s.length > 0) return `a value under '${key}'`;
  if (key !== undefined && parentKey !== undefined && /^headers$/i.test(parentKey) && AUTH_HEADER.test(key)) {
    return `a literal '${key}' header`;
  }
  const userinfo = urlPassword(s);
  if (userinfo) return "a URL with a password";
  for (const [re, what] of TOKEN_PATTERNS) if (re.test(s)) return what;
  const qs = /[?&](access_token|token|api_key|apikey|key|sig|signature|password|secret)=[^&\s]{8,}/i.exec(s);
  if (qs) return `a URL with '${qs[1]}' in its query`;
  return undefined;
}

function urlPassword(s: string): boolean {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/@\s]*)@/i.exec(s);
  return m !== null && m[1]!.includes(":");
}
