import type { V1Pod } from "@kubernetes/client-node";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { KubeApiError, KubeClient, type KubeAccess, type WatchEvent } from "./kube-api.js";
import {
  APPLIED_HASH_ANNOTATION,
  FIELD_MANAGER,
  INSTANCE_PODS_SELECTOR,
  instanceSetName,
  instanceUrl,
  renderTenant,
  TENANT_LABEL,
  tenantSelector,
  type KubeObject,
  type RenderOptions,
} from "./kubernetes-objects.js";
import type { Instance, Provisioner, TenantServerConfig } from "./provisioner.js";

export interface KubernetesOptions extends RenderOptions {
  /** Where the API server is and how to authenticate (kube-api.ts loadKubeConfig). */
  access: KubeAccess;
  /** Unchanged objects are applied again after this long anyway, putting back hand edits. Default 10 min. */
  reapplyMs?: number;
}

/** What remove() deletes, found by the tenant's labels: everything the provisioner made, and the claims. */
const KINDS = [
  { apiVersion: "apps/v1", kind: "StatefulSet" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy" },
  { apiVersion: "v1", kind: "PersistentVolumeClaim" },
] as const;

/**
 * Dedicated tenants' instances on Kubernetes, through the API server: each tenant's objects are applied with
 * server-side apply (field manager `vrsky`), one StatefulSet pod per instance. The pods are watched: an
 * instance is `ready` when its pod is, and every change of state is reported (onChange) so that the owner
 * publishes it. What exists is found by labels, so a restarted reconciler scales and removes what an earlier
 * one made.
 */
export class KubernetesProvisioner implements Provisioner {
  readonly kind = "kubernetes" as const;
  private readonly api: KubeClient;
  /** The instances' pods by name, as listed and watched. */
  private readonly pods = new Map<string, V1Pod>();
  private readonly listeners = new Set<(i: Instance) => void>();
  /** Instances wanted per tenant, as last scaled. */
  private readonly wanted = new Map<string, number>();
  /** The state last returned or reported per instance (`<tenant>/<index>`), to report changes only. */
  private readonly states = new Map<string, Instance["state"]>();
  /** When each tenant's objects were last applied, and their digest. */
  private readonly applied = new Map<string, { hash: string; at: number }>();
  /** Resolves once the pods are listed (and a watch follows them); undefined after the watch failed. */
  private watching: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: KubernetesOptions) {
    this.api = new KubeClient(o.access);
  }

  async scale(tenant: TenantServerConfig, count: number): Promise<Instance[]> {
    await this.watch();
    const objects = renderTenant(tenant, count, this.o);
    const set = objects[objects.length - 1]!;
    const hash = set.metadata.annotations![APPLIED_HASH_ANNOTATION]!;
    const last = this.applied.get(tenant.tenant);
    const fresh = last?.hash === hash && Date.now() - last.at < (this.o.reapplyMs ?? 600_000);
    if (!fresh || !(await this.setIsApplied(set, hash))) {
      for (const obj of objects)
        await this.call(`apply ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`, () =>
          this.api.apply(obj, FIELD_MANAGER),
        );
      this.applied.set(tenant.tenant, { hash, at: Date.now() });
    }
    this.wanted.set(tenant.tenant, count);
    for (const key of [...this.states.keys()])
      if (key.startsWith(`${tenant.tenant}/`) && Number(key.slice(tenant.tenant.length + 1)) >= count)
        this.states.delete(key);
    return this.current(tenant.tenant, count);
  }

  instances(tenant: string): Instance[] {
    const count =
      this.wanted.get(tenant) ??
      [...this.pods.values()].filter((p) => p.metadata?.labels?.[TENANT_LABEL] === tenant).length;
    return this.current(tenant, count);
  }

  /**
   * Deletes everything of the tenant the labels find (also what an earlier reconciler made): the StatefulSet
   * first (its pods stop in lame-duck mode), then the Service, ConfigMap, NetworkPolicy and the claims.
   */
  async remove(tenant: string): Promise<void> {
    for (const { apiVersion, kind } of KINDS) {
      const found = await this.call(`list the ${kind}s of tenant ${tenant}`, () =>
        this.api.list<KubeObject>(apiVersion, kind, this.o.namespace, tenantSelector(tenant)),
      );
      for (const item of found.items)
        await this.call(`delete ${kind} ${this.o.namespace}/${item.metadata.name}`, () =>
          this.api.delete(apiVersion, kind, this.o.namespace, item.metadata.name),
        );
    }
    this.wanted.delete(tenant);
    this.applied.delete(tenant);
    for (const key of [...this.states.keys()]) if (key.startsWith(`${tenant}/`)) this.states.delete(key);
  }

  onChange(listener: (i: Instance) => void): void {
    this.listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.watching?.catch(() => undefined);
    await this.api.close();
  }

  /**
   * Lists the instances' pods, then follows them with a watch from that list's version; when the watch ends
   * (the server's timeout) it watches on, and when it breaks, lists again after a pause. The first list's
   * failure is the caller's.
   */
  private watch(): Promise<void> {
    this.watching ??= this.list().catch((e: unknown) => {
      this.watching = undefined;
      throw e;
    });
    return this.watching;
  }

  private async list(): Promise<void> {
    const { items, resourceVersion } = await this.call("list the tenant instances' pods", () =>
      this.api.list<V1Pod>("v1", "Pod", this.o.namespace, INSTANCE_PODS_SELECTOR),
    );
    const gone = new Set(this.pods.keys());
    for (const pod of items) {
      gone.delete(pod.metadata!.name!);
      this.podChanged("MODIFIED", pod);
    }
    for (const name of gone) this.podChanged("DELETED", this.pods.get(name)!);
    void this.follow(resourceVersion);
  }

  private async follow(from: string): Promise<void> {
    let version = from;
    while (!this.stop.signal.aborted) {
      try {
        await this.api.watch<V1Pod>(
          {
            apiVersion: "v1",
            kind: "Pod",
            namespace: this.o.namespace,
            labelSelector: INSTANCE_PODS_SELECTOR,
            resourceVersion: version,
          },
          (e) => {
            if (e.type === "ERROR")
              throw new KubeApiError(Number((e.object as { code?: number }).code ?? 500), "watch");
            if (e.type !== "BOOKMARK") this.podChanged(e.type, e.object);
            version = e.object.metadata?.resourceVersion ?? version;
          },
          this.stop.signal,
        );
      } catch {
        if (this.stop.signal.aborted) return;
        // Broken, or too old a version (410 Gone): list afresh after a pause, and watch from there.
        this.watching = undefined;
        this.retryTimer = setTimeout(() => void this.watch().catch(() => undefined), 1_000);
        return;
      }
    }
  }

  /** The StatefulSet on the server carries the digest rendered now (nobody deleted or replaced it). */
  private async setIsApplied(set: KubeObject, hash: string): Promise<boolean> {
    const { namespace, name } = set.metadata;
    const found = await this.call(`read StatefulSet ${namespace}/${name}`, () =>
      this.api.read<KubeObject>(set.apiVersion, set.kind, namespace, name),
    );
    return (
      found?.metadata.annotations?.[APPLIED_HASH_ANNOTATION] === hash &&
      !(found.metadata as { deletionTimestamp?: string }).deletionTimestamp
    );
  }

  /** Runs an API call; a failure becomes VRS_PROVISION_FAILED naming what was done and what the server said. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new VrskyError(
        "VRS_PROVISION_FAILED",
        `cannot ${what} (Kubernetes API ${this.o.access.server}): ${apiError(e)}`,
        {
          cause: e,
        },
      );
    }
  }

  private current(tenant: string, count: number): Instance[] {
    return Array.from({ length: count }, (_, index) => {
      const i = this.instance(tenant, index);
      this.states.set(`${tenant}/${index}`, i.state);
      return i;
    });
  }

  /** Instance `index` of the tenant as its pod shows it; `lost` once ready and no longer. */
  private instance(tenant: string, index: number): Instance {
    const pod = this.pods.get(`${instanceSetName(tenant)}-${index}`);
    const before = this.states.get(`${tenant}/${index}`);
    const ready = pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    const state: Instance["state"] = pod?.metadata?.deletionTimestamp
      ? "draining"
      : ready
        ? "ready"
        : before === "ready" || before === "lost"
          ? "lost"
          : "starting";
    const started = pod?.status?.startTime ?? pod?.metadata?.creationTimestamp;
    return {
      id: `${tenant}-${index}`,
      tenant,
      index,
      url: instanceUrl(tenant, index, this.o.namespace),
      state,
      startedAt: new Date(started ?? Date.now()).toISOString(),
    };
  }

  private podChanged(type: WatchEvent<V1Pod>["type"], pod: V1Pod): void {
    const name = pod.metadata?.name;
    if (!name) return;
    if (type === "DELETED") this.pods.delete(name);
    else this.pods.set(name, pod);
    const tenant = pod.metadata?.labels?.[TENANT_LABEL];
    const count = tenant === undefined ? undefined : this.wanted.get(tenant);
    if (tenant === undefined || count === undefined) return;
    const index = Number(name.slice(instanceSetName(tenant).length + 1));
    if (!Number.isInteger(index) || index >= count) return;
    const before = this.states.get(`${tenant}/${index}`);
    const i = this.instance(tenant, index);
    // A pod just created for an instance scale() is returning as starting: nothing to report yet.
    if (i.state === before || (before === undefined && i.state === "starting")) return;
    this.states.set(`${tenant}/${index}`, i.state);
    for (const l of this.listeners) l(i);
  }
}

/** The API server's own message, or the error's. */
function apiError(e: unknown): string {
  if (e instanceof KubeApiError) {
    const hint = e.status === 403 ? "; grant the reconciler's service account the RBAC in docs/operations.md" : "";
    return `HTTP ${e.status}: ${e.message}${hint}`;
  }
  const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return `${errorMessage(e)}${cause}`;
}
