/**
 * The secrets an integration names: every key `secretRef` at any depth of its source, step and sink configs
 * (a connector may nest one, as the http source's `signature.secretRef`), and the plan-time check that each one is
 * sealed in the repository when the repository keeps its secrets in `secrets/`. Pure: the list of sealed files is
 * data handed in by whoever read the revision.
 */
import type { Finding } from "../errors/finding.js";
import type { IntegrationResource } from "../model/resources.js";
import type { PathSegment } from "./json-path.js";

/** One `secretRef` of an integration: the secret's name and where it is written (`spec.sinks[0].config.secretRef`). */
export interface SecretRefUse {
  name: string;
  path: PathSegment[];
}

/** A `secretRef` as the parse of a file keeps it: formatted path and position, for findings. */
export interface LocatedSecretRef {
  name: string;
  path: string;
  line: number;
  column: number;
}

/** Every `secretRef` of the integration's connectors, in manifest order (a name may appear more than once). */
export function secretRefsOf(r: IntegrationResource): SecretRefUse[] {
  const out: SecretRefUse[] = [];
  const connectors: Array<[{ config?: unknown } | undefined, PathSegment[]]> = [
    [r.spec.source, ["spec", "source"]],
    ...(r.spec.steps ?? []).map((s, i): [{ config?: unknown }, PathSegment[]] => [s, ["spec", "steps", i]]),
    ...r.spec.sinks.map((s, i): [{ config?: unknown }, PathSegment[]] => [s, ["spec", "sinks", i]]),
  ];
  for (const [c, at] of connectors) walk(c?.config, [...at, "config"], out);
  return out;
}

/** The distinct secret names of the integration, sorted. */
export function secretNamesOf(r: IntegrationResource): string[] {
  return [...new Set(secretRefsOf(r).map((u) => u.name))].sort();
}

function walk(v: unknown, path: PathSegment[], out: SecretRefUse[]): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => walk(x, [...path, i], out));
    return;
  }
  if (v === null || typeof v !== "object") return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === "secretRef" && typeof x === "string") out.push({ name: x, path: [...path, k] });
    else walk(x, [...path, k], out);
  }
}

/** Where the git provider keeps a tenant's secret (engine/secrets/git-age.ts reads the same path). */
export function sealedSecretPath(tenant: string, name: string): string {
  return `secrets/${tenant}/${name}.age`;
}

/** What the sealed-secrets check needs of one valid integration document. */
export interface SecretRefsOfFile {
  file: string;
  tenant: string;
  refs: readonly LocatedSecretRef[];
}

/**
 * VRS_SECRET_MISSING at every `secretRef` whose `secrets/<tenant>/<name>.age` is not among `sealed` (the regular
 * files committed under `secrets/` at the revision). Without `sealed` (the revision has no `secrets/` folder:
 * secrets come from a folder of files at run time) nothing is checked.
 */
export function checkSealedSecrets(
  docs: readonly SecretRefsOfFile[],
  sealed: ReadonlySet<string> | undefined,
): Finding[] {
  if (!sealed) return [];
  const out: Finding[] = [];
  for (const d of docs) {
    for (const ref of d.refs) {
      const path = sealedSecretPath(d.tenant, ref.name);
      if (sealed.has(path)) continue;
      out.push({
        file: d.file,
        line: ref.line,
        column: ref.column,
        path: ref.path,
        code: "VRS_SECRET_MISSING",
        message: `${ref.path}: secret '${ref.name}' of tenant '${d.tenant}' is not committed: this repository keeps its secrets in secrets/, and ${path} does not exist at this revision; seal it (vrsky secret seal --tenant ${d.tenant} --name ${ref.name}) and commit it, or fix the name`,
      });
    }
  }
  return out;
}
