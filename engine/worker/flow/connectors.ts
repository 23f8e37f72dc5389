/**
 * The sink and source runtimes a replica can run, by connector type. HTTP sources need none: the gateway persists
 * their messages. A type missing here has no runtime in this version: a source without one takes no input on the
 * worker, and what is routed to a sink without one is dead-lettered with VRS_SINK_NOT_AVAILABLE.
 */
import { fileSink } from "./sinks/file.js";
import { httpSink } from "./sinks/http.js";
import { natsSink } from "./sinks/nats.js";
import { fileSource } from "./sources/file.js";
import { natsSource } from "./sources/nats.js";
import { timerSource } from "./sources/timer.js";
import { postgresSink } from "./sinks/postgres.js";
import { postgresCdcSource } from "./sources/postgres-cdc.js";
import type { SinkFactory, SourceFactory } from "./types.js";

export const SINKS: Record<string, SinkFactory> = {
  http: httpSink,
  nats: natsSink,
  postgres: postgresSink,
  file: fileSink,
};

export const SOURCES: Record<string, SourceFactory> = {
  nats: natsSource,
  timer: timerSource,
  "postgres-cdc": postgresCdcSource,
  file: fileSource,
};
