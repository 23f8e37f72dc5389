/**
 * deploy/kubernetes rendered as Kubernetes would get it: `kubectl kustomize` (Debian's `kubernetes-client`; .ci/run
 * installs it), the YAML stream parsed, and each object validated against the Kubernetes schemas of
 * `kubernetes-models`.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import * as models from "kubernetes-models";
import { parseAllDocuments } from "yaml";
import { packageRoot } from "../../engine/util/package-root.js";

/** A rendered object, as parsed: every object has apiVersion, kind and metadata.name. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

export const KUBERNETES_DIR = join(packageRoot(), "deploy", "kubernetes");

/** `kubectl kustomize <dir>` (dir relative to deploy/kubernetes), parsed; a failed render throws its output. */
export async function kustomize(dir: string): Promise<K8sObject[]> {
  const text = await new Promise<string>((resolve, reject) => {
    execFile("kubectl", ["kustomize", join(KUBERNETES_DIR, dir)], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        return reject(new Error("kubectl cannot run: apt-get install kubernetes-client, or run .ci/run"));
      if (err) return reject(new Error(`kubectl kustomize ${dir} failed:\n${stderr}`));
      resolve(stdout);
    });
  });
  return parseStream(text, `kubectl kustomize ${dir}`);
}

/** A multi-document YAML stream as objects; a document that does not parse, or is not an object, throws. */
export function parseStream(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value === null) continue;
    const o = value as Partial<K8sObject>;
    if (typeof o !== "object" || !o.apiVersion || !o.kind || !o.metadata?.name)
      throw new Error(`${source}: document ${i + 1} is not a Kubernetes object (apiVersion, kind, metadata.name)`);
    objects.push(o as K8sObject);
  }
  return objects;
}

/** "Deployment vrsky/vrsky-worker": how assertions name an object. */
export function describeObject(o: K8sObject): string {
  return `${o.kind} ${o.metadata.namespace ?? "(cluster)"}/${o.metadata.name}`;
}

type ModelClass = new (data: unknown) => { validate(): void };

/**
 * The kubernetes-models class of an object's apiVersion and kind: group `networking.k8s.io` is the module's
 * `networkingK8sIo`, the core group (`v1`) is `v1`. Undefined when the models know no such kind.
 */
export function modelOf(apiVersion: string, kind: string): ModelClass | undefined {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const byGroup = models as unknown as Record<string, Record<string, Record<string, ModelClass>>>;
  if (group === "") return (models.v1 as unknown as Record<string, Record<string, ModelClass>>)[kind] as never;
  const key = group!.replace(/\.([a-z])/g, (_m, c: string) => c.toUpperCase());
  return byGroup[key]?.[version!]?.[kind];
}

/** Validates an object against its Kubernetes schema; throws naming the object and every schema error. */
export function validateObject(o: K8sObject): void {
  const Model = modelOf(o.apiVersion, o.kind);
  if (!Model) throw new Error(`${describeObject(o)}: no Kubernetes schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${describeObject(o)} does not match the Kubernetes schema: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** What a pod template's container looks like, as far as these tests read it. */
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: Record<string, { name?: string; key?: string }> }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface Probe {
  httpGet?: { path: string; port: number | string };
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type: string };
  };
  volumes?: Array<{ name: string } & Record<string, unknown>>;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  affinity?: Record<string, unknown>;
}

/** The workloads (Deployments, StatefulSets) with their pod templates. */
export function workloads(objects: K8sObject[]): Array<{
  o: K8sObject;
  spec: { replicas?: number; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}> {
  return objects
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
    .map((o) => ({ o, spec: o.spec as never }));
}

/** The one object of a kind and name (namespace null: a cluster-scoped object); throws when there is none. */
export function find(objects: K8sObject[], kind: string, name: string, namespace: string | null = "vrsky"): K8sObject {
  const o = objects.find(
    (x) => x.kind === kind && x.metadata.name === name && (x.metadata.namespace ?? null) === namespace,
  );
  if (!o) throw new Error(`no ${kind} ${namespace ?? "(cluster)"}/${name} in the rendered manifests`);
  return o;
}
