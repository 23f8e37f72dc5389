/**
 * A recording stand-in for the Kubernetes API server, on a free loopback port: the subset the provisioner uses
 * (discovery, server-side apply, get, list and watch with a label selector, delete) for ConfigMaps, Services,
 * NetworkPolicies, StatefulSets, PersistentVolumeClaims and Pods. It plays the StatefulSet controller too: an
 * applied StatefulSet gets its pods (not ready; the test makes them ready) and claims, a changed pod template
 * replaces its pods, a smaller one deletes the surplus. Every request is recorded.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: Obj;
  /** A server-side apply that created the object (authorized as `create` as well as `patch`). */
  created?: boolean;
}

const RESOURCES: Record<string, { group: string; kind: string }> = {
  configmaps: { group: "v1", kind: "ConfigMap" },
  services: { group: "v1", kind: "Service" },
  pods: { group: "v1", kind: "Pod" },
  persistentvolumeclaims: { group: "v1", kind: "PersistentVolumeClaim" },
  statefulsets: { group: "apps/v1", kind: "StatefulSet" },
  networkpolicies: { group: "networking.k8s.io/v1", kind: "NetworkPolicy" },
};
const PATH = /^\/(?:api\/v1|apis\/([^/]+\/[^/]+))\/namespaces\/([^/]+)\/([a-z]+)(?:\/([^/]+))?$/;

type Selector = Array<[string, string]>;

function selectorOf(s: string | undefined): Selector {
  return (s ?? "")
    .split(",")
    .filter(Boolean)
    .map((p) => p.split("=") as [string, string]);
}

function matches(o: Obj, sel: Selector): boolean {
  return sel.every(([k, v]) => o.metadata.labels?.[k] === v);
}

interface WatchClient {
  resource: string;
  namespace: string;
  selector: Selector;
  res: ServerResponse;
}

export class FakeKubeApi {
  readonly requests: Recorded[] = [];
  /** By `<resource>/<namespace>/<name>`. */
  private readonly store = new Map<string, Obj>();
  private rv = 1;
  private readonly events: Array<{ rv: number; resource: string; type: string; object: Obj }> = [];
  private readonly watchers = new Set<WatchClient>();
  private server: Server | undefined;
  url = "";
  /** Answer every request but discovery with this status (e.g. 403), when set. */
  refuse: number | undefined;
  /** Answer the next watches with 410 Gone (their version is too old: the client must list again). */
  goneWatches = 0;

  /** Ends every open watch, as the API server does after its timeout. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
  }

  /** Listens on loopback: plain HTTP, or HTTPS with the key and certificate given (PEM). */
  async start(tls?: { key: string; cert: string }): Promise<this> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = tls ? createTlsServer(tls, handler) : createServer(handler);
    await new Promise<void>((ok) => this.server!.listen(0, "127.0.0.1", ok));
    this.url = `${tls ? "https" : "http"}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => (this.server ? this.server.close(() => ok()) : ok()));
  }

  /** A kubeconfig naming this server, with a bearer token the recorded requests should carry (and a CA file). */
  writeKubeconfig(dir: string, caFile?: string): string {
    const file = join(dir, "kubeconfig");
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: fake\n  cluster:\n    server: ${this.url}${caFile ? `\n    certificate-authority: ${caFile}` : ""}`,
        "users:",
        "- name: vrsky\n  user:\n    token: fake-token",
        "contexts:",
        "- name: fake\n  context:\n    cluster: fake\n    user: vrsky\n    namespace: vrsky",
        "current-context: fake",
        "",
      ].join("\n"),
    );
    return file;
  }

  get(resource: string, namespace: string, name: string): Obj | undefined {
    return this.store.get(`${resource}/${namespace}/${name}`);
  }

  list(resource: string, namespace?: string): Obj[] {
    return [...this.store.entries()]
      .filter(([k]) => k.startsWith(namespace === undefined ? `${resource}/` : `${resource}/${namespace}/`))
      .map(([, o]) => o);
  }

  /** The applies recorded since `from`: each PATCH's body, in order. */
  applied(from = 0): Obj[] {
    return this.requests.slice(from).flatMap((r) => (r.method === "PATCH" && r.body ? [r.body] : []));
  }

  /** Sets a pod's Ready condition, as the kubelet does once its readiness probe passes (or fails). */
  setReady(namespace: string, pod: string, ready: boolean): void {
    const p = this.get("pods", namespace, pod);
    if (!p) throw new Error(`no pod ${namespace}/${pod}; there are: ${this.list("pods").map((o) => o.metadata.name)}`);
    this.put("pods", namespace, {
      ...p,
      status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
    });
  }

  private put(resource: string, namespace: string, o: Obj, created = false): Obj {
    const stored: Obj = {
      ...o,
      metadata: {
        ...o.metadata,
        namespace,
        resourceVersion: String(++this.rv),
        uid: (o.metadata.uid as string | undefined) ?? randomUUID(),
        creationTimestamp: (o.metadata.creationTimestamp as string | undefined) ?? new Date().toISOString(),
      },
    };
    this.store.set(`${resource}/${namespace}/${o.metadata.name}`, stored);
    this.emit(resource, created ? "ADDED" : "MODIFIED", stored);
    return stored;
  }

  private remove(resource: string, namespace: string, name: string): Obj | undefined {
    const o = this.store.get(`${resource}/${namespace}/${name}`);
    if (!o) return undefined;
    this.store.delete(`${resource}/${namespace}/${name}`);
    this.emit(resource, "DELETED", { ...o, metadata: { ...o.metadata, resourceVersion: String(++this.rv) } });
    if (resource === "statefulsets") this.controlStatefulSet(namespace, name, undefined);
    return o;
  }

  private emit(resource: string, type: string, object: Obj): void {
    const rv = Number(object.metadata.resourceVersion);
    this.events.push({ rv, resource, type, object });
    for (const w of this.watchers)
      if (w.resource === resource && w.namespace === object.metadata.namespace && matches(object, w.selector))
        w.res.write(JSON.stringify({ type, object }) + "\n");
  }

  /** The StatefulSet controller's part: pods 0..replicas-1 from the template, and their claims. */
  private controlStatefulSet(namespace: string, name: string, set: Obj | undefined): void {
    const spec = set?.spec as
      | {
          replicas: number;
          template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
          volumeClaimTemplates?: Array<{ metadata: { name: string; labels?: Record<string, string> }; spec: unknown }>;
          persistentVolumeClaimRetentionPolicy?: { whenDeleted?: string };
        }
      | undefined;
    const replicas = spec?.replicas ?? 0;
    const template = JSON.stringify(spec?.template.metadata.annotations ?? {});
    for (const pod of this.list("pods", namespace)) {
      const m = pod.metadata.name.match(/^(.*)-(\d+)$/);
      if (!m || m[1] !== name) continue;
      const stale = pod.metadata.annotations?.["fake/template"] !== template;
      if (Number(m[2]) >= replicas || stale) this.remove("pods", namespace, pod.metadata.name);
    }
    for (let i = 0; i < replicas; i++) {
      const pod = `${name}-${i}`;
      if (!this.get("pods", namespace, pod))
        this.put(
          "pods",
          namespace,
          {
            apiVersion: "v1",
            kind: "Pod",
            metadata: {
              name: pod,
              labels: { ...spec!.template.metadata.labels, "apps.kubernetes.io/pod-index": String(i) },
              annotations: { ...spec!.template.metadata.annotations, "fake/template": template },
            },
            status: { conditions: [{ type: "Ready", status: "False" }] },
          },
          true,
        );
      for (const t of spec!.volumeClaimTemplates ?? []) {
        const claim = `${t.metadata.name}-${pod}`;
        if (!this.get("persistentvolumeclaims", namespace, claim))
          this.put(
            "persistentvolumeclaims",
            namespace,
            {
              apiVersion: "v1",
              kind: "PersistentVolumeClaim",
              metadata: { name: claim, labels: t.metadata.labels ?? {} },
              spec: t.spec,
            },
            true,
          );
      }
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const rec: Recorded = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers["content-type"],
      authorization: req.headers.authorization,
      body: text ? (parseYaml(text) as Obj) : undefined,
    };
    this.requests.push(rec);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const status = (code: number, message: string) =>
      send(code, { apiVersion: "v1", kind: "Status", status: "Failure", code, message });
    const discovery = url.pathname.match(/^\/(?:api\/v1|apis\/([^/]+\/[^/]+))$/);
    if (discovery) {
      const group = discovery[1] ?? "v1";
      const resources = Object.entries(RESOURCES)
        .filter(([, r]) => r.group === group)
        .map(([name, r]) => ({ name, kind: r.kind, namespaced: true, singularName: "", verbs: ["get", "list"] }));
      return send(200, { kind: "APIResourceList", apiVersion: "v1", groupVersion: group, resources });
    }
    if (this.refuse !== undefined) return status(this.refuse, `refused by the test (HTTP ${this.refuse})`);
    const m = url.pathname.match(PATH);
    const r = m ? RESOURCES[m[3]!] : undefined;
    if (!m || !r || (m[1] ?? "v1") !== r.group) return status(404, `no such path ${url.pathname}`);
    const [, , namespace, resource, name] = m as unknown as [string, string, string, string, string | undefined];
    if (req.method === "GET" && !name && url.searchParams.get("watch") === "true") {
      if (this.goneWatches > 0 && this.goneWatches--) return status(410, "too old resource version");
      return this.watch(res, resource, namespace, url.searchParams);
    }
    if (req.method === "GET" && !name) {
      const sel = selectorOf(url.searchParams.get("labelSelector") ?? undefined);
      const items = this.list(resource, namespace).filter((o) => matches(o, sel));
      return send(200, {
        apiVersion: r.group,
        kind: `${r.kind}List`,
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
    }
    if (!name) return status(405, "method not allowed");
    const existing = this.get(resource, namespace, name);
    if (req.method === "GET") return existing ? send(200, existing) : status(404, `${resource} "${name}" not found`);
    if (req.method === "DELETE") {
      const gone = this.remove(resource, namespace, name);
      return gone ? send(200, { apiVersion: "v1", kind: "Status", status: "Success" }) : status(404, "not found");
    }
    if (req.method === "PATCH") {
      if (rec.contentType !== "application/apply-patch+yaml") return status(415, `unsupported ${rec.contentType}`);
      if (!url.searchParams.get("fieldManager")) return status(400, "fieldManager is required for apply patch");
      const body = rec.body!;
      if (body.kind !== r.kind || body.metadata.name !== name) return status(400, "body does not match the path");
      rec.created = !existing;
      const stored = this.put(resource, namespace, { ...body, status: existing?.status }, !existing);
      if (resource === "statefulsets") this.controlStatefulSet(namespace, name, stored);
      return send(existing ? 200 : 201, stored);
    }
    return status(405, "method not allowed");
  }

  private watch(res: ServerResponse, resource: string, namespace: string, q: URLSearchParams): void {
    const selector = selectorOf(q.get("labelSelector") ?? undefined);
    const from = Number(q.get("resourceVersion") ?? "0");
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    for (const e of this.events)
      if (
        e.rv > from &&
        e.resource === resource &&
        e.object.metadata.namespace === namespace &&
        matches(e.object, selector)
      )
        res.write(JSON.stringify({ type: e.type, object: e.object }) + "\n");
    const w: WatchClient = { resource, namespace, selector, res };
    this.watchers.add(w);
    res.on("close", () => this.watchers.delete(w));
  }
}
