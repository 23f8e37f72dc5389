/**
 * Demo secrets of `vrsky up`: so that the committed integrations run on a laptop without an account anywhere,
 * `up` fills `<data>/secrets/<tenant>/<name>` (a directory secret provider) for references nothing else provides:
 * a webhook signing secret gets a random value (printed as a path, so a user can sign requests with it); an HTTP
 * sink's secret becomes the URL of the stand-in receiver. Other references (a database password) stay missing,
 * and their integrations show `SecretMissing`. A value written by a user is never replaced; a stand-in URL from an
 * earlier start is rewritten, since the receiver's port may have changed.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { secretRefsOf } from "../manifests/secret-refs.js";
import type { IntegrationResource } from "../model/resources.js";
import type { SecretSource } from "../secrets/sources.js";

/** Marks a secret file as written by `up` (its first line), so that it may be rewritten. */
const STAND_IN = "http://127.0.0.1:";

export interface DemoSecret {
  tenant: string;
  name: string;
  file: string;
  kind: "signing" | "stand-in";
}

export async function ensureDemoSecrets(
  dir: string,
  integrations: IntegrationResource[],
  receiverUrl: string,
  /** What the repository already provides (sealed secrets), at its revision. */
  provided: { source: SecretSource; revision: string },
): Promise<DemoSecret[]> {
  const out: DemoSecret[] = [];
  const seen = new Set<string>();
  for (const r of integrations) {
    const tenant = r.metadata.tenant;
    for (const use of secretRefsOf(r)) {
      const key = `${tenant}/${use.name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const role = roleOf(r, use.path);
      if (!role) continue;
      const file = join(dir, tenant, use.name);
      if (existsSync(file)) {
        const current = readFileSync(file, "utf8");
        if (role === "stand-in" && current.startsWith(STAND_IN)) {
          writeSecret(file, `${receiverUrl}/${tenant}/${r.metadata.name}`);
          out.push({ tenant, name: use.name, file, kind: role });
        } else if (role === "signing") out.push({ tenant, name: use.name, file, kind: role });
        continue;
      }
      if (await provided.source.has(tenant, use.name, provided.revision).catch(() => false)) continue;
      writeSecret(
        file,
        role === "signing" ? randomBytes(24).toString("hex") : `${receiverUrl}/${tenant}/${r.metadata.name}`,
      );
      out.push({ tenant, name: use.name, file, kind: role });
    }
  }
  return out;
}

/** A webhook signature (`spec.source.config.signature.secretRef`) or an HTTP sink's secret; nothing else. */
function roleOf(r: IntegrationResource, path: readonly (string | number)[]): DemoSecret["kind"] | undefined {
  if (path[1] === "source" && r.spec.source.type === "http" && path.includes("signature")) return "signing";
  if (path[1] === "sinks" && typeof path[2] === "number" && r.spec.sinks[path[2]]?.type === "http") return "stand-in";
  return undefined;
}

function writeSecret(file: string, value: string): void {
  mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(file, value, { mode: 0o600 });
}
