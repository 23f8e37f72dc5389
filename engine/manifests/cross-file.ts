import type { Finding } from "../errors/finding.js";
import type { TenantResource } from "../model/resources.js";
import type { ParsedDocument } from "./parse-file.js";

/** A document of a revision and the file it is in. */
export interface Located {
  file: string;
  doc: ParsedDocument;
  single: boolean;
}

/** Tenants first, then integrations, each by key. */
export function compareKeys(a: string, b: string): number {
  const ta = a.startsWith("Tenant/") ? 0 : 1;
  const tb = b.startsWith("Tenant/") ? 0 : 1;
  return ta - tb || (a < b ? -1 : a > b ? 1 : 0);
}

/** Whether a document is where its kind and name say it belongs. */
export function checkPlacement(path: string, doc: ParsedDocument, single: boolean): Finding[] {
  const parts = path.split("/");
  const base = parts[parts.length - 1]!.replace(/\.ya?ml$/, "");
  const out: Finding[] = [];
  const misplaced = (message: string) =>
    out.push({ file: path, ...doc.at.kind, path: "kind", code: "VRS_FILE_MISPLACED", message });
  if (parts[0] === "tenants") {
    if (parts.length !== 2) misplaced("tenant files belong directly in tenants/, as tenants/<name>.yaml");
    else if (doc.kind !== undefined && doc.kind !== "Tenant")
      misplaced(`a ${doc.kind} does not belong in tenants/; move it to integrations/<tenant>/`);
    else if (single && doc.name !== undefined && doc.name !== base) {
      out.push({
        file: path,
        ...doc.at.name,
        path: "metadata.name",
        code: "VRS_REF_PATH_MISMATCH",
        message: `metadata.name is '${doc.name}' but the file is named '${base}'; rename the file to tenants/${doc.name}.yaml or fix the name`,
      });
    }
  } else {
    if (parts.length !== 3) misplaced("integration files belong in integrations/<tenant>/<name>.yaml");
    else if (doc.kind !== undefined && doc.kind !== "Integration")
      misplaced(`a ${doc.kind} does not belong in integrations/; move it to tenants/`);
    else {
      if (doc.tenant !== undefined && doc.tenant !== parts[1]) {
        out.push({
          file: path,
          ...doc.at.tenant,
          path: "metadata.tenant",
          code: "VRS_REF_PATH_MISMATCH",
          message: `metadata.tenant is '${doc.tenant}' but the file is in integrations/${parts[1]}/; move the file or fix the tenant`,
        });
      }
      if (single && doc.name !== undefined && doc.name !== base) {
        out.push({
          file: path,
          ...doc.at.name,
          path: "metadata.name",
          code: "VRS_REF_PATH_MISMATCH",
          message: `metadata.name is '${doc.name}' but the file is named '${base}'; rename the file or fix the name`,
        });
      }
    }
  }
  return out;
}

/**
 * Names, references and limits across documents. Every rule is within one tenant (its tenant document and its
 * integrations), so the documents of each tenant can be checked on their own, with the same result.
 */
export function checkReferences(docs: Located[]): Finding[] {
  const out: Finding[] = [];
  const tenants = new Map<string, Located>();
  const integrations = new Map<string, Located>();
  const taken = new Map<string, Located>();
  for (const d of docs) {
    if (d.doc.kind !== "Tenant" || d.doc.name === undefined) continue;
    const first = tenants.get(d.doc.name);
    if (first) out.push(duplicate(d, `tenant '${d.doc.name}' is also defined in ${first.file}`));
    else tenants.set(d.doc.name, d);
  }
  const perTenant = new Map<string, Located[]>();
  for (const d of docs) {
    if (d.doc.kind !== "Integration" || d.doc.name === undefined || d.doc.tenant === undefined) continue;
    const key = `${d.doc.tenant}/${d.doc.name}`;
    const first = integrations.get(key);
    if (first) {
      out.push(
        duplicate(d, `integration '${d.doc.name}' of tenant '${d.doc.tenant}' is also defined in ${first.file}`),
      );
      continue;
    }
    integrations.set(key, d);
    if (!tenants.has(d.doc.tenant)) {
      out.push({
        file: d.file,
        ...d.doc.at.tenant,
        path: "metadata.tenant",
        code: "VRS_REF_TENANT_NOT_FOUND",
        message: `tenant '${d.doc.tenant}' does not exist; add tenants/${d.doc.tenant}.yaml or fix metadata.tenant`,
      });
    }
    const list = perTenant.get(d.doc.tenant) ?? [];
    list.push(d);
    perTenant.set(d.doc.tenant, list);
    // Values a connector holds exclusively within its tenant (an HTTP source's path): the first holder keeps it.
    for (const u of d.doc.unique) {
      const key = `${d.doc.tenant}\u0000${u.what}\u0000${u.value}`;
      const other = taken.get(key);
      if (other) {
        out.push({
          file: d.file,
          ...u.at,
          path: u.path,
          code: "VRS_REF_DUPLICATE_NAME",
          message: `${u.what} '${u.value}' is already used by ${other.file}; ${u.hint}`,
        });
      } else {
        taken.set(key, d);
      }
    }
  }
  for (const [name, list] of perTenant) {
    const t = tenants.get(name);
    const tenant = t?.doc.resource as TenantResource | undefined;
    if (!t || !tenant) continue;
    const limits = tenant.spec?.limits;
    const max = limits?.integrations ?? Infinity;
    if (list.length > max) {
      out.push({
        file: t.file,
        ...t.doc.at.limitIntegrations,
        path: "spec.limits.integrations",
        code: "VRS_LIMIT_INTEGRATIONS",
        message: `tenant '${name}' has ${list.length} integrations; its limit is ${max}`,
      });
    }
    const maxReplicas = limits?.replicas ?? -1;
    if (maxReplicas >= 0) {
      const total = list.reduce(
        (n, d) => n + (d.doc.resource?.kind === "Integration" ? (d.doc.resource.spec.replicas ?? 1) : 0),
        0,
      );
      if (total > maxReplicas) {
        out.push({
          file: t.file,
          ...t.doc.at.limitReplicas,
          path: "spec.limits.replicas",
          code: "VRS_LIMIT_REPLICAS",
          message: `tenant '${name}' runs ${total} replicas in total; its limit is ${maxReplicas}`,
        });
      }
    }
  }
  return out;
}

function duplicate(d: Located, message: string): Finding {
  return { file: d.file, ...d.doc.at.name, path: "metadata.name", code: "VRS_REF_DUPLICATE_NAME", message };
}
