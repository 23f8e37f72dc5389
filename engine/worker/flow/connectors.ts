/**
 * The connector runtimes a worker runs, by type: sink factories (deliver a message) and source factories (persist
 * into the ingest stream). A sink type without a runtime here dead-letters what is routed to it
 * (VRS_SINK_NOT_AVAILABLE); a source type without one takes no input on the worker (an `http` source needs none:
 * the gateway writes the ingest stream; a `nats` source with `stream` needs none: the replicas read that stream).
 */
import type { SinkFactory, SourceFactory } from "./types.js";

export const SINKS: Record<string, SinkFactory> = {};

export const SOURCES: Record<string, SourceFactory> = {};
