import { readFile, realpath, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { checkSecretRef, secretMissing, type SecretProvider } from "./provider.js";
import { SecretValue } from "./value.js";

/**
 * Secrets as files, `<dir>/<tenant>/<name>`: the shape of a Kubernetes Secret mounted per tenant (whose files are
 * links into a hidden `..data` folder beside them). The file's bytes are the value, as they are (nothing is
 * trimmed). A link may point anywhere inside `<dir>/<tenant>`, never outside it, and `<dir>/<tenant>` itself must
 * not be a link: either would let one tenant's reference read a file that is not its own.
 */
export class DirectorySecretProvider implements SecretProvider {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  async resolve(tenant: string, name: string): Promise<SecretValue> {
    const file = await this.#file(tenant, name);
    if (!file) throw secretMissing(tenant, name, `no file ${join(this.dir, tenant, name)}`);
    try {
      return new SecretValue(await readFile(file));
    } catch (e) {
      throw new VrskyError("VRS_SECRET_UNREADABLE", `cannot read ${join(this.dir, tenant, name)}: ${errorMessage(e)}`);
    }
  }

  async has(tenant: string, name: string): Promise<boolean> {
    return (await this.#file(tenant, name)) !== undefined;
  }

  /** The real path of the secret's file, checked to lie inside the tenant's folder; undefined when absent. */
  async #file(tenant: string, name: string): Promise<string | undefined> {
    checkSecretRef(tenant, name);
    const realDir = await realOrUndefined(this.dir);
    const realTenant = await realOrUndefined(join(this.dir, tenant));
    if (!realDir || !realTenant) return undefined;
    if (realTenant !== join(realDir, tenant)) {
      throw new VrskyError("VRS_SECRET_OUTSIDE", `${join(this.dir, tenant)} is a link; a tenant's folder must be real`);
    }
    const real = await realOrUndefined(join(realTenant, name));
    if (!real) return undefined;
    if (!real.startsWith(realTenant + sep)) {
      throw new VrskyError(
        "VRS_SECRET_OUTSIDE",
        `${join(this.dir, tenant, name)} links outside ${join(this.dir, tenant)}`,
      );
    }
    return (await stat(real)).isFile() ? real : undefined;
  }
}

async function realOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (e) {
    // a broken link is a missing secret, like a missing file
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR")
      return undefined;
    throw new VrskyError("VRS_SECRET_UNREADABLE", `cannot read ${path}: ${errorMessage(e)}`);
  }
}
