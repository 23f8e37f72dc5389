import { spawn } from "node:child_process";
import { stringify } from "yaml";
import { VrskyError } from "../errors/errors.js";
import { INSTANCE_DIR, type Instance, type Provisioner, type TenantServerConfig } from "./provisioner.js";

export interface KubernetesOptions {
  namespace: string;
  image?: string;
  /** Labels of the worker pods allowed to reach tenant instances (the NetworkPolicy's ingress). */
  workerSelector?: Record<string, string>;
  /** JetStream storage per instance as a PersistentVolumeClaim (e.g. "10Gi"); without it, an emptyDir. */
  storageSize?: string;
  storageClass?: string;
  /** Runs `kubectl apply -f -` (or delete) with the rendered objects; replaceable to apply differently. */
  kubectl?: (args: string[], input: string) => Promise<void>;
}

type Obj = Record<string, unknown>;

/** The Kubernetes objects of one tenant instance: ConfigMap, PersistentVolumeClaim, Deployment, Service, NetworkPolicy. */
export function renderInstance(tenant: TenantServerConfig, index: number, o: KubernetesOptions): Obj[] {
  const name = `vrsky-nats-${tenant.tenant}-${index}`;
  const labels = {
    "app.kubernetes.io/name": "nats",
    "app.kubernetes.io/part-of": "vrsky",
    "vrsky.io/tenant": tenant.tenant,
    "vrsky.io/instance": String(index),
  };
  const meta = { name, namespace: o.namespace, labels };
  const config = [
    tenant.config.split(INSTANCE_DIR).join("/data").trimEnd(),
    "port: 4222",
    "http_port: 8222",
    `server_name: ${name}`,
    "jetstream { store_dir: /data }",
    "",
  ].join("\n");
  const pvc = o.storageSize
    ? [
        {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: meta,
          spec: {
            accessModes: ["ReadWriteOnce"],
            resources: { requests: { storage: o.storageSize } },
            ...(o.storageClass ? { storageClassName: o.storageClass } : {}),
          },
        },
      ]
    : [];
  return [
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta, data: { "nats.conf": config } },
    ...pvc,
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta,
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: "nats",
                image: o.image ?? "nats:2.10-alpine",
                args: ["-c", "/etc/nats/nats.conf"],
                ports: [
                  { name: "client", containerPort: 4222 },
                  { name: "monitor", containerPort: 8222 },
                ],
                // Lame-duck mode drains clients before the pod stops: scaling down drains first.
                lifecycle: { preStop: { exec: { command: ["nats-server", "--signal", "ldm=1"] } } },
                readinessProbe: { httpGet: { path: "/healthz?js-enabled-only=true", port: 8222 }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: "/healthz", port: 8222 }, periodSeconds: 10, failureThreshold: 3 },
                resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "1Gi" } },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1000,
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                },
                volumeMounts: [
                  { name: "config", mountPath: "/etc/nats" },
                  { name: "data", mountPath: "/data" },
                ],
              },
            ],
            volumes: [
              { name: "config", configMap: { name } },
              o.storageSize
                ? { name: "data", persistentVolumeClaim: { claimName: name } }
                : { name: "data", emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta,
      spec: { selector: labels, ports: [{ name: "client", port: 4222, targetPort: "client" }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta,
      spec: {
        podSelector: { matchLabels: labels },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                podSelector: {
                  matchLabels: o.workerSelector ?? {
                    "app.kubernetes.io/part-of": "vrsky",
                    "app.kubernetes.io/component": "worker",
                  },
                },
              },
            ],
            ports: [{ protocol: "TCP", port: 4222 }],
          },
        ],
      },
    },
  ];
}

/** Renders objects as one multi-document YAML stream, as `kubectl apply -f -` takes it. */
export function toYaml(objects: Obj[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}

/** Dedicated tenants' instances as Kubernetes objects, applied with kubectl. */
export class KubernetesProvisioner implements Provisioner {
  readonly kind = "kubernetes" as const;
  private readonly state = new Map<string, Instance[]>();
  private readonly run: (args: string[], input: string) => Promise<void>;

  constructor(private readonly o: KubernetesOptions) {
    this.run = o.kubectl ?? kubectl;
  }

  async scale(tenant: TenantServerConfig, count: number): Promise<Instance[]> {
    const current = this.state.get(tenant.tenant) ?? [];
    const wanted = Array.from({ length: count }, (_, i) => renderInstance(tenant, i, this.o)).flat();
    if (wanted.length > 0) await this.run(["apply", "-f", "-"], toYaml(wanted));
    const extra = current.filter((i) => i.index >= count);
    for (const i of extra)
      await this.run(
        ["delete", "--ignore-not-found", "--wait=true", "-f", "-"],
        toYaml(renderInstance(tenant, i.index, this.o)),
      );
    const now = new Date().toISOString();
    const instances = Array.from({ length: count }, (_, index) => {
      const prev = current.find((i) => i.index === index);
      return (
        prev ?? {
          id: `${tenant.tenant}-${index}`,
          tenant: tenant.tenant,
          index,
          url: `nats://vrsky-nats-${tenant.tenant}-${index}.${this.o.namespace}.svc:4222`,
          state: "starting" as const,
          startedAt: now,
        }
      );
    });
    this.state.set(tenant.tenant, instances);
    return instances;
  }

  instances(tenant: string): Instance[] {
    return this.state.get(tenant) ?? [];
  }

  async remove(tenant: string): Promise<void> {
    await this.run(
      [
        "delete",
        "--ignore-not-found",
        "-n",
        this.o.namespace,
        "deployment,service,configmap,networkpolicy,persistentvolumeclaim",
        "-l",
        `vrsky.io/tenant=${tenant}`,
      ],
      "",
    );
    this.state.delete(tenant);
  }

  onLost(): void {
    // Kubernetes restarts lost pods itself (Deployment); nothing to replace here.
  }

  async close(): Promise<void> {}
}

function kubectl(args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", args, { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
    child.on("error", (e) =>
      reject(
        new VrskyError(
          "VRS_PROVISION_FAILED",
          `cannot run kubectl: ${e.message}; install kubectl and configure access to the cluster`,
        ),
      ),
    );
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new VrskyError("VRS_PROVISION_FAILED", `kubectl ${args[0]} failed: ${err.trim()}`)),
    );
    child.stdin.end(input);
  });
}
