/**
 * The sink and source runtimes a replica can run, by connector type. A type missing here has no runtime in this
 * version (its integrations cannot start). HTTP sources need none: the gateway persists their messages.
 */
import { httpSink } from "./sinks/http.js";
import { natsSink } from "./sinks/nats.js";
import { natsSource } from "./sources/nats.js";
import { timerSource } from "./sources/timer.js";
import type { SinkFactory, SourceFactory } from "./types.js";

export const SINKS: Record<string, SinkFactory> = { http: httpSink, nats: natsSink };

export const SOURCES: Record<string, SourceFactory> = { nats: natsSource, timer: timerSource };
