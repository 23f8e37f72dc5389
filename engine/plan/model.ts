import type { Kind } from "../model/resources.js";

/** The plan's JSON form. Bump PLAN_FORMAT_VERSION on any incompatible change; docs/cli.md describes it. */
export const PLAN_FORMAT_VERSION = 1;

export type Action = "create" | "update" | "delete";

export interface FieldChange {
  path: string;
  /** Absent when the field is new. */
  before?: unknown;
  /** Absent when the field was removed. */
  after?: unknown;
}

export interface Change {
  action: Action;
  kind: Kind;
  name: string;
  tenant?: string;
  reason: string;
  /** Changed field paths, e.g. `spec.replicas`; empty for create and delete. */
  fields: string[];
  /** Before and after of each changed field (manifests hold no secret values, only secretRef names). */
  values: FieldChange[];
}

export interface Revision {
  ref: string;
  revision: string;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  base: Revision | null;
  head: Revision;
  summary: { create: number; update: number; delete: number; unchanged: number };
  changes: Change[];
}
