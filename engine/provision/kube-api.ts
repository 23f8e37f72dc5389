/**
 * The part of the Kubernetes API the provisioner uses: server-side apply, get, list and watch with a label
 * selector, delete; and the kubeconfig that says where the API server is and how to authenticate.
 *
 * Not @kubernetes/client-node: its v2 needs undici 8, which does not load on Node 20 (the engines this project
 * supports), so this speaks the API through undici 7 with the kubeconfig's credentials.
 */
import { readFileSync } from "node:fs";
import { Agent, request, type Dispatcher } from "undici";
import { parse as parseYaml } from "yaml";
import { errorMessage, VrskyError } from "../errors/errors.js";

export interface KubeObjectLike {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface KubeAccess {
  server: string;
  /** Read for every request: a service account's projected token is rotated on disk. */
  token?: () => string;
  tls: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
}

/** An API server's refusal: its HTTP status and its message. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
const PLURALS: Record<string, string> = {
  Pod: "pods",
  ConfigMap: "configmaps",
  Service: "services",
  PersistentVolumeClaim: "persistentvolumeclaims",
  StatefulSet: "statefulsets",
  NetworkPolicy: "networkpolicies",
};

type Named = {
  name?: string;
  cluster?: Record<string, unknown>;
  user?: Record<string, unknown>;
  context?: Record<string, unknown>;
};

/**
 * The access a kubeconfig gives: the file given, else $KUBECONFIG (its first file) or ~/.kube/config, else the
 * service account of the pod this runs in. Tokens and client certificates (inline or as files); exec and
 * auth-provider plugins are refused, naming what to use instead.
 */
export function loadKubeConfig(file?: string): KubeAccess {
  const home = process.env.HOME ? `${process.env.HOME}/.kube/config` : undefined;
  const path = file ?? process.env.KUBECONFIG?.split(":").find(Boolean) ?? (home && exists(home) ? home : undefined);
  if (!path && process.env.KUBERNETES_SERVICE_HOST) return inCluster();
  const where = path ?? "(none: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and not in a pod)";
  const fail = (why: string): never => {
    throw new VrskyError("VRS_USAGE", `kubeconfig ${where}: ${why}`);
  };
  if (!path) return fail("give one with --kubeconfig");
  let doc: { "current-context"?: string; clusters?: Named[]; users?: Named[]; contexts?: Named[] };
  try {
    doc = (parseYaml(readFileSync(path, "utf8")) ?? {}) as typeof doc;
  } catch (e) {
    return fail(`cannot read it: ${errorMessage(e)}`);
  }
  const named = (list: Named[] | undefined, name: unknown, what: string) =>
    list?.find((x) => x.name === name) ?? fail(`no ${what} named '${String(name)}'`);
  const context = named(doc.contexts, doc["current-context"] ?? fail("no current-context"), "context").context ?? {};
  const cluster = named(doc.clusters, context.cluster, "cluster").cluster ?? {};
  const user = context.user === undefined ? {} : (named(doc.users, context.user, "user").user ?? {});
  if (user.exec || user["auth-provider"])
    fail(
      `user '${String(context.user)}' authenticates with a plugin, which VRSky does not run: use a token or a client certificate (e.g. a service account's)`,
    );
  if (typeof cluster.server !== "string") fail("its cluster has no server");
  const pem = (data: string, fileKey: string): string | undefined => {
    const inline = cluster[data] ?? user[data];
    if (typeof inline === "string") return Buffer.from(inline, "base64").toString("utf8");
    const f = cluster[fileKey] ?? user[fileKey];
    return typeof f === "string" ? readOrFail(f, fail) : undefined;
  };
  const token = typeof user.token === "string" ? user.token : undefined;
  const tokenFile = typeof user.tokenFile === "string" ? user.tokenFile : undefined;
  return {
    server: (cluster.server as string).replace(/\/$/, ""),
    token: token ? () => token : tokenFile ? () => readOrFail(tokenFile, fail).trim() : undefined,
    tls: {
      ca: pem("certificate-authority-data", "certificate-authority"),
      cert: pem("client-certificate-data", "client-certificate"),
      key: pem("client-key-data", "client-key"),
      rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true,
    },
  };
}

function inCluster(): KubeAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST!;
  const fail = (why: string): never => {
    throw new VrskyError("VRS_USAGE", `in-cluster service account: ${why}; or give a kubeconfig with --kubeconfig`);
  };
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${process.env.KUBERNETES_SERVICE_PORT ?? "443"}`,
    token: () => readOrFail(`${SERVICE_ACCOUNT}/token`, fail).trim(),
    tls: { ca: readOrFail(`${SERVICE_ACCOUNT}/ca.crt`, fail), rejectUnauthorized: true },
  };
}

function exists(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

function readOrFail(path: string, fail: (why: string) => never): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    return fail(`cannot read ${path}: ${errorMessage(e)}`);
  }
}

/** The path of a kind's collection in a namespace, e.g. /apis/apps/v1/namespaces/vrsky/statefulsets. */
export function collectionPath(apiVersion: string, kind: string, namespace: string): string {
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`no resource path known for ${kind}`);
  return `/${apiVersion.includes("/") ? "apis" : "api"}/${apiVersion}/namespaces/${namespace}/${plural}`;
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** A client of one API server, with the kubeconfig's credentials. */
export class KubeClient {
  private readonly dispatcher: Dispatcher;

  constructor(readonly access: KubeAccess) {
    this.dispatcher = new Agent({ connect: access.tls });
  }

  /** Server-side apply: the object as this field manager wants it, taking over fields others set (force). */
  async apply<T extends KubeObjectLike>(obj: T, fieldManager: string): Promise<T> {
    const path = `${collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace!)}/${obj.metadata.name}`;
    return this.json<T>("PATCH", `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true`, obj, {
      "content-type": "application/apply-patch+yaml",
    });
  }

  async read<T>(apiVersion: string, kind: string, namespace: string, name: string): Promise<T | undefined> {
    return this.json<T>("GET", `${collectionPath(apiVersion, kind, namespace)}/${name}`).catch((e: unknown) => {
      if (e instanceof KubeApiError && e.status === 404) return undefined;
      throw e;
    });
  }

  async list<T>(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector: string,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const query = `labelSelector=${encodeURIComponent(labelSelector)}`;
    const r = await this.json<{ items?: T[]; metadata?: { resourceVersion?: string } }>(
      "GET",
      `${collectionPath(apiVersion, kind, namespace)}?${query}`,
    );
    return { items: r.items ?? [], resourceVersion: r.metadata?.resourceVersion ?? "" };
  }

  /** Deletes an object (its dependents in the background); one already gone is not an error. */
  async delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<void> {
    await this.json("DELETE", `${collectionPath(apiVersion, kind, namespace)}/${name}`, {
      apiVersion: "v1",
      kind: "DeleteOptions",
      propagationPolicy: "Background",
    }).catch((e: unknown) => {
      if (!(e instanceof KubeApiError && e.status === 404)) throw e;
    });
  }

  /**
   * Streams the changes after `resourceVersion` until the server ends the watch (after `timeoutSeconds`) or
   * `signal` aborts it; resolves then, rejects when it could not start or broke.
   */
  async watch<T>(
    o: { apiVersion: string; kind: string; namespace: string; labelSelector: string; resourceVersion: string },
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const query = new URLSearchParams({
      watch: "true",
      labelSelector: o.labelSelector,
      resourceVersion: o.resourceVersion,
      timeoutSeconds: "300",
    });
    const res = await this.send(
      "GET",
      `${collectionPath(o.apiVersion, o.kind, o.namespace)}?${query}`,
      undefined,
      {},
      signal,
    );
    if (res.statusCode !== 200) throw await refusal(res);
    let rest = "";
    for await (const chunk of res.body) {
      rest += (chunk as Buffer).toString("utf8");
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async json<T>(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, path, body, { "content-type": "application/json", ...headers });
    if (res.statusCode >= 300) throw await refusal(res);
    return (await res.body.json()) as T;
  }

  private send(
    method: Dispatcher.HttpMethod,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const token = this.access.token?.();
    return request(`${this.access.server}${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: { accept: "application/json", ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      headersTimeout: 30_000,
      bodyTimeout: signal ? 0 : 30_000,
    });
  }
}

/** The API server's Status message for a failed request. */
async function refusal(res: Dispatcher.ResponseData): Promise<KubeApiError> {
  const text = await res.body.text().catch(() => "");
  let message = text.slice(0, 300);
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === "string") message = status.message;
  } catch {
    // not a Status: the text as it came
  }
  return new KubeApiError(res.statusCode, message);
}
