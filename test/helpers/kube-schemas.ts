import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";

const MODELS = { ConfigMap, Service, NetworkPolicy, StatefulSet } as const;

/**
 * Validates an object against the Kubernetes schema of its kind (kubernetes-models); throws naming the field.
 * The schemas check types and required fields, not unknown ones nor names: tests check those themselves.
 */
export function validateKubernetesObject(o: { kind: string } & Record<string, unknown>): void {
  const Model = MODELS[o.kind as keyof typeof MODELS];
  if (!Model) throw new Error(`no schema here for ${o.kind}`);
  new Model(o as never).validate();
}
