/**
 * The Kubernetes objects of a dedicated tenant's NATS instances, rendered as plain data (no I/O): a ConfigMap with
 * the server configuration, a headless Service, a StatefulSet (one pod per instance, a PersistentVolumeClaim per
 * pod when storage is asked for) and a NetworkPolicy admitting VRSky's own pods only. kubernetes.ts applies them.
 */
import { createHash } from "node:crypto";
// Types only (erased at build): the API's field names checked at compile time; nothing of it runs here. Not for
// the NetworkPolicy, whose `from` the library's model calls `_from`.
import type { V1ConfigMap, V1Service, V1StatefulSet } from "@kubernetes/client-node";
import { INSTANCE_DIR, type TenantServerConfig } from "./provisioner.js";

/** The field manager of every server-side apply, and the `app.kubernetes.io/managed-by` of every object. */
export const FIELD_MANAGER = "vrsky";
export const TENANT_LABEL = "vrsky.io/tenant";
export const CONFIG_HASH_ANNOTATION = "vrsky.io/config-hash";
/** On the StatefulSet: a digest of everything rendered, so an unchanged tenant is not applied again. */
export const APPLIED_HASH_ANNOTATION = "vrsky.io/applied-hash";
const COMPONENT = "tenant-nats";

/**
 * The pods allowed to reach tenant instances: VRSky's own, labelled `app.kubernetes.io/part-of: vrsky` and
 * `app.kubernetes.io/component` one of these, in a namespace labelled `app.kubernetes.io/part-of: vrsky` (docs/operations.md, "Kubernetes provisioner"; deploy/kubernetes
 * sets them). The workers run integrations there; the reconciler creates their streams; the gateway and the API
 * publish and read in tenants' accounts.
 */
export const CLIENT_COMPONENTS = ["worker", "reconciler", "gateway", "api"] as const;

/** Seconds: nats-server's lame-duck mode evicts clients over the duration, after the grace period. */
export const LAME_DUCK = { durationSeconds: 30, gracePeriodSeconds: 10 } as const;
/** Above grace + duration, so a pod is not killed before lame-duck mode has moved every client off. */
export const TERMINATION_GRACE_SECONDS = 60;
const RUN_DIR = "/var/run/nats";
const PID_FILE = `${RUN_DIR}/nats.pid`;
const DATA_DIR = "/data";
const RUN_AS = 1000;

export interface RenderOptions {
  namespace: string;
  /** nats-server image; default nats:2.10-alpine. */
  image?: string;
  /** JetStream storage per instance as a PersistentVolumeClaim; without it, an emptyDir (lost with the pod). */
  storage?: { size: string; className?: string };
}

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;

/** A StatefulSet's pods carry `controller-revision-hash: <name>-<10 chars>`, a label value of at most 63. */
const MAX_SET_NAME = 52;
const PREFIX = "vrsky-nats-";

/**
 * The name of a tenant's objects: a DNS-1035 label that fits a StatefulSet. `vrsky-nats-<tenant>` when it is
 * shorter than 52 characters; otherwise its first 41 characters, `-` and 10 hex digits of the tenant's SHA-256:
 * exactly 52, so a hashed name never equals a plain one, and two long tenants differ by their hashes.
 */
export function instanceSetName(tenant: string): string {
  const plain = PREFIX + tenant;
  if (plain.length < MAX_SET_NAME) return plain;
  const hash = createHash("sha256").update(tenant).digest("hex").slice(0, 10);
  return `${plain.slice(0, MAX_SET_NAME - 11)}-${hash}`;
}

/** The client URL of one instance: its pod's name under the headless Service. */
export function instanceUrl(tenant: string, index: number, namespace: string): string {
  const name = instanceSetName(tenant);
  return `nats://${name}-${index}.${name}.${namespace}.svc:4222`;
}

/** The label selector of everything this provisioner made for the tenant. */
export function tenantSelector(tenant: string): string {
  return `app.kubernetes.io/managed-by=${FIELD_MANAGER},${TENANT_LABEL}=${tenant}`;
}

/** The label selector of every pod of every tenant instance (the provisioner's watch). */
export const INSTANCE_PODS_SELECTOR = `app.kubernetes.io/managed-by=${FIELD_MANAGER},app.kubernetes.io/component=${COMPONENT}`;

function labelsOf(tenant: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": "nats",
    "app.kubernetes.io/instance": instanceSetName(tenant),
    "app.kubernetes.io/component": COMPONENT,
    "app.kubernetes.io/part-of": "vrsky",
    "app.kubernetes.io/managed-by": FIELD_MANAGER,
    [TENANT_LABEL]: tenant,
  };
}

/** The nats-server configuration of the tenant's instances (each names itself after its pod). */
export function renderServerConfig(tenant: TenantServerConfig): string {
  return [
    tenant.config.split(INSTANCE_DIR).join(DATA_DIR).trimEnd(),
    "port: 4222",
    "http_port: 8222",
    "server_name: $POD_NAME",
    `pid_file: "${PID_FILE}"`,
    `lame_duck_duration: "${LAME_DUCK.durationSeconds}s"`,
    `lame_duck_grace_period: "${LAME_DUCK.gracePeriodSeconds}s"`,
    `jetstream { store_dir: "${DATA_DIR}" }`,
    "",
  ].join("\n");
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The tenant's objects for `count` instances, in the order they are applied (the StatefulSet last: its pods mount
 * the ConfigMap). The StatefulSet carries a digest of them all.
 */
export function renderTenant(tenant: TenantServerConfig, count: number, o: RenderOptions): KubeObject[] {
  const name = instanceSetName(tenant.tenant);
  const labels = labelsOf(tenant.tenant);
  const meta = { name, namespace: o.namespace, labels };
  const selector = { "app.kubernetes.io/component": COMPONENT, [TENANT_LABEL]: tenant.tenant };
  const config = renderServerConfig(tenant);
  const objects: KubeObject[] = [
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta, data: { "nats.conf": config } } satisfies V1ConfigMap,
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta,
      spec: { clusterIP: "None", selector, ports: [{ name: "client", port: 4222, targetPort: "client" }] },
    } satisfies V1Service,
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta,
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                // In any namespace labelled as VRSky's (the platform's pods usually run in another one than the
                // tenants' instances: deploy/kubernetes puts them in `vrsky` and `vrsky-tenants`).
                namespaceSelector: { matchLabels: { "app.kubernetes.io/part-of": "vrsky" } },
                podSelector: {
                  matchLabels: { "app.kubernetes.io/part-of": "vrsky" },
                  matchExpressions: [
                    { key: "app.kubernetes.io/component", operator: "In", values: [...CLIENT_COMPONENTS] },
                  ],
                },
              },
            ],
            ports: [{ protocol: "TCP", port: 4222 }],
          },
        ],
      },
    },
  ];
  const set = renderStatefulSet(tenant.tenant, count, sha256(config), o);
  set.metadata.annotations = { [APPLIED_HASH_ANNOTATION]: sha256(JSON.stringify([objects, set])) };
  return [...objects, set];
}

function renderStatefulSet(tenant: string, count: number, configHash: string, o: RenderOptions): KubeObject {
  const name = instanceSetName(tenant);
  const labels = labelsOf(tenant);
  const storage = o.storage;
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: "monitor" },
    periodSeconds,
    failureThreshold,
  });
  const set = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name, namespace: o.namespace, labels },
    spec: {
      serviceName: name,
      replicas: count,
      // Instances are independent servers: started and stopped together, not one after another.
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      selector: { matchLabels: { "app.kubernetes.io/component": COMPONENT, [TENANT_LABEL]: tenant } },
      // A scaled-away instance keeps its claim (scaling up again, or a suspended tenant, finds its data);
      // the tenant's removal deletes them.
      ...(storage ? { persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" } } : {}),
      template: {
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: configHash } },
        spec: {
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS,
            runAsGroup: RUN_AS,
            fsGroup: RUN_AS,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "nats",
              image: o.image ?? "nats:2.10-alpine",
              command: ["nats-server", "--config", "/etc/nats/nats.conf"],
              env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
              ports: [
                { name: "client", containerPort: 4222 },
                { name: "monitor", containerPort: 8222 },
              ],
              // Lame-duck mode (nats-server ignores the SIGTERM that follows while in it): clients move off first.
              lifecycle: { preStop: { exec: { command: ["nats-server", "--signal", `ldm=${PID_FILE}`] } } },
              startupProbe: probe("/healthz", 5, 60),
              readinessProbe: probe("/healthz", 5, 3),
              livenessProbe: probe("/healthz?js-enabled-only=true", 10, 3),
              resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
              securityContext: {
                runAsNonRoot: true,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
              },
              volumeMounts: [
                { name: "config", mountPath: "/etc/nats", readOnly: true },
                { name: "run", mountPath: RUN_DIR },
                { name: "data", mountPath: DATA_DIR },
              ],
            },
          ],
          volumes: [
            { name: "config", configMap: { name } },
            { name: "run", emptyDir: {} },
            ...(storage ? [] : [{ name: "data", emptyDir: {} }]),
          ],
        },
      },
      ...(storage
        ? {
            volumeClaimTemplates: [
              {
                metadata: { name: "data", labels },
                spec: {
                  accessModes: ["ReadWriteOnce"],
                  resources: { requests: { storage: storage.size } },
                  ...(storage.className ? { storageClassName: storage.className } : {}),
                },
              },
            ],
          }
        : {}),
    },
  } satisfies V1StatefulSet;
  return set;
}

/** A Kubernetes resource quantity for storage, e.g. 10Gi, 500Mi, 1G (what --storage-size takes). */
export function isStorageQuantity(s: string): boolean {
  return /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(s) && Number.parseFloat(s) > 0;
}

/** A DNS-1123 subdomain: what names a StorageClass or a namespace may be (namespaces: a label, 63 at most). */
export function isDnsSubdomain(s: string, max = 253): boolean {
  return s.length <= max && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s);
}
