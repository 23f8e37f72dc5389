import { resolve } from "node:path";
import { VrskyError } from "../../errors/errors.js";
import { isDnsSubdomain, isStorageQuantity } from "../../provision/kubernetes-objects.js";
import { loadKubeConfig } from "../../provision/kube-api.js";
import { KubernetesProvisioner } from "../../provision/kubernetes.js";
import { LocalProcessProvisioner } from "../../provision/local.js";
import type { Provisioner } from "../../provision/provisioner.js";

/** The reconciler's flags that choose and configure the provisioner of dedicated tenants' instances. */
export interface ProvisionerFlags {
  provisioner: "none" | "local" | "kubernetes";
  stateDir: string;
  namespace: string;
  kubeconfig?: string;
  storageSize?: string;
  storageClass?: string;
  natsImage?: string;
}

const KUBERNETES_ONLY = [
  ["kubeconfig", "--kubeconfig"],
  ["storageSize", "--storage-size"],
  ["storageClass", "--storage-class"],
  ["natsImage", "--nats-image"],
] as const;

/**
 * The provisioner the flags ask for, not started: every flag is checked first (VRS_USAGE naming the flag), and the
 * kubeconfig read, before anything connects. Undefined for `none`.
 */
export function provisionerFromFlags(flags: ProvisionerFlags): (() => Provisioner) | undefined {
  if (flags.provisioner !== "kubernetes")
    for (const [key, flag] of KUBERNETES_ONLY)
      if (flags[key] !== undefined)
        throw new VrskyError(
          "VRS_USAGE",
          `${flag} applies to --provisioner kubernetes only (not '${flags.provisioner}')`,
        );
  if (flags.provisioner === "none") return undefined;
  if (flags.provisioner === "local") {
    const dir = resolve(flags.stateDir, "instances");
    return () => new LocalProcessProvisioner(dir);
  }
  if (!isDnsSubdomain(flags.namespace, 63) || flags.namespace.includes("."))
    throw new VrskyError(
      "VRS_USAGE",
      `--namespace '${flags.namespace}' is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)`,
    );
  if (flags.storageSize !== undefined && !isStorageQuantity(flags.storageSize))
    throw new VrskyError(
      "VRS_USAGE",
      `--storage-size '${flags.storageSize}' is not a storage quantity: give e.g. 10Gi or 500Mi`,
    );
  if (flags.storageClass !== undefined && !isDnsSubdomain(flags.storageClass))
    throw new VrskyError("VRS_USAGE", `--storage-class '${flags.storageClass}' is not a StorageClass name`);
  if (flags.storageClass !== undefined && flags.storageSize === undefined)
    throw new VrskyError(
      "VRS_USAGE",
      "--storage-class needs --storage-size: give the size of each instance's volume claim (e.g. --storage-size 10Gi)",
    );
  if (flags.natsImage !== undefined && !/^[^\s]+$/.test(flags.natsImage))
    throw new VrskyError("VRS_USAGE", `--nats-image '${flags.natsImage}' is not an image reference`);
  const access = loadKubeConfig(flags.kubeconfig);
  const storage = flags.storageSize ? { size: flags.storageSize, className: flags.storageClass } : undefined;
  return () => new KubernetesProvisioner({ access, namespace: flags.namespace, storage, image: flags.natsImage });
}
