import type { ConnectorDefinition, ConnectorKind } from "./sdk.js";
import { fileSink } from "./sink-file/index.js";
import { httpSink } from "./sink-http/index.js";
import { natsSink } from "./sink-nats/index.js";
import { postgresSink } from "./sink-postgres/index.js";
import { fileSource } from "./source-file/index.js";
import { httpSource } from "./source-http/index.js";
import { natsSource } from "./source-nats/index.js";
import { postgresCdcSource } from "./source-postgres-cdc/index.js";
import { timerSource } from "./source-timer/index.js";
import { csvStep } from "./step-csv/index.js";
import { filterStep } from "./step-filter/index.js";
import { mapStep } from "./step-map/index.js";
import { splitStep } from "./step-split/index.js";
import { templateStep } from "./step-template/index.js";
import { xmlStep } from "./step-xml/index.js";

/**
 * Every connector VRSky knows, in the order the schemas and docs list them. Adding a connector is its folder
 * and one line here; the Integration schema, schemas/connectors/, the generated types and the checks follow.
 */
export const CONNECTORS: readonly ConnectorDefinition[] = [
  httpSource,
  fileSource,
  postgresCdcSource,
  natsSource,
  timerSource,
  mapStep,
  filterStep,
  xmlStep,
  csvStep,
  templateStep,
  splitStep,
  httpSink,
  fileSink,
  postgresSink,
  natsSink,
];

/** A set of connectors, looked up by kind and type. */
export interface ConnectorRegistry {
  readonly all: readonly ConnectorDefinition[];
  /** The connectors of a kind, in registration order. */
  of(kind: ConnectorKind): readonly ConnectorDefinition[];
  get(kind: ConnectorKind, type: string): ConnectorDefinition | undefined;
}

const TYPE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Builds a registry; throws on a type name that is not lowercase-and-dashes or is registered twice. */
export function createRegistry(definitions: readonly ConnectorDefinition[]): ConnectorRegistry {
  const byKey = new Map<string, ConnectorDefinition>();
  for (const d of definitions) {
    if (!TYPE_NAME.test(d.type)) throw new Error(`connector type '${d.type}' must be lowercase letters, digits and -`);
    const key = `${d.kind}:${d.type}`;
    if (byKey.has(key)) throw new Error(`connector ${d.kind} '${d.type}' is registered twice`);
    byKey.set(key, d);
  }
  const all = [...definitions];
  const byKind = new Map<ConnectorKind, ConnectorDefinition[]>();
  for (const d of all) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
  return {
    all,
    of: (kind) => byKind.get(kind) ?? [],
    get: (kind, type) => byKey.get(`${kind}:${type}`),
  };
}

/** The registry of the connectors above: what validation, the schemas and the types use. */
export const connectors: ConnectorRegistry = createRegistry(CONNECTORS);
