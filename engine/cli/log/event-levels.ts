/**
 * The level and the short human message of every event the engine logs, in one table (docs/operations.md#logs
 * shows it; a test keeps the two in step and checks that every event logged in engine/ is here).
 *
 * - `error`: something failed that a retry will not fix by itself, or that loses work (a message that cannot be
 *   dead-lettered, a request answered 500, a fleet mode that keeps this process from leading).
 * - `warn`: a failure that is retried or routed around, or a degraded state (NATS away, a worker expired).
 * - `info`: the lifecycle of processes, leadership, workers and replicas; what a run changed.
 * - `debug`: detail that repeats per replica, per route, per renewal or per trigger.
 */

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface EventLevel {
  level: LogLevel;
  msg: string;
  /** A level that depends on a field of the event (a run's outcome): the table says which, in one place. */
  refine?: (fields: Record<string, unknown>) => LogLevel | undefined;
}

/** An event this table does not know (a new one not yet added) is logged at `info`, its name as the message. */
export const DEFAULT_EVENT_LEVEL: LogLevel = "info";

const RUN_OUTCOME_LEVELS: Record<string, LogLevel> = {
  Invalid: "warn",
  DeletionGuard: "warn",
  Conflict: "warn",
  LostLeadership: "warn",
  Failed: "error",
};

const e = (level: LogLevel, msg: string, refine?: EventLevel["refine"]): EventLevel =>
  refine ? { level, msg, refine } : { level, msg };

export const EVENT_LEVELS: Readonly<Record<string, EventLevel>> = {
  // Every long-running process
  listening: e("info", "serving probes and metrics"),
  stopping: e("info", "stopping on a signal"),
  "nats-disconnect": e("warn", "the platform NATS connection went away"),
  "nats-reconnect": e("info", "the platform NATS connection is back"),
  "bad-record": e("warn", "a state value is not a record of its bucket's contract"),
  "state-not-ready": e("warn", "JetStream did not answer while opening the platform state: asking again"),
  "state-replicas": e("info", "a platform bucket's replicas were changed to the --replicas setting"),

  // Reconciler: leadership and runs
  leader: e("info", "leading: this reconciler holds the lease"),
  standby: e("info", "standing by: another reconciler leads"),
  follower: e("warn", "lost the lease: no longer leading"),
  "mode-set": e("info", "wrote the fleet's mode"),
  "mode-refused": e("error", "the fleet's mode differs from this reconciler's: not leading"),
  source: e("debug", "the branch may have moved"),
  run: e("info", "reconcile run", (f) => RUN_OUTCOME_LEVELS[String(f.outcome)]),
  "retry-stopped": e("warn", "a failed run needs a human: no retry scheduled"),
  "status-write-failed": e("warn", "the run's status could not be written"),
  drift: e("info", "drift: a value changed outside git"),
  revocation: e("info", "a revocation changed"),
  "watch-failed": e("warn", "a watch of a platform bucket failed or ended: opened again"),
  "instance-lost": e("warn", "a dedicated tenant instance went away"),
  "instance-state": e("info", "a dedicated tenant instance changed state (e.g. became ready)"),
  streams: e("info", "integration streams created, deleted or not ready, or tenants left to resume"),
  "streams-failed": e("warn", "the streams step failed"),
  "streams-delete-failed": e("warn", "an integration's streams could not be deleted"),
  "cdc-slot-dropped": e("info", "a deleted integration's PostgreSQL replication slot was dropped"),
  "cdc-slot-busy": e("info", "a deleted integration's replication slot is still streaming: dropped later"),
  "cdc-slot-terminated": e("warn", "a deleted integration's replication slot stayed busy: its connection was ended"),
  "cdc-slot-drop-failed": e("warn", "a deleted integration's replication slot could not be dropped: retried"),
  "cdc-slot-kept": e("info", "a deleted integration's replication slot is used by another integration: kept"),
  "streams-scan-failed": e("warn", "a tenant's streams could not be listed"),
  "integration-status-write-failed": e("warn", "an integration's status could not be written"),

  // Reconciler: placement and worker credentials
  placement: e("info", "placement wrote assignments"),
  "placement-failed": e("warn", "placement failed"),
  "worker-expired": e("warn", "a worker's heartbeat expired: its replicas move"),
  "assignment-wake-failed": e("warn", "an assignment could not be rewritten to wake its worker"),
  "claim-orphaned": e("warn", "a claim is held by a worker that is not registered"),
  "worker-creds-issued": e("debug", "issued tenant credentials to a worker"),
  "worker-creds-refused": e("warn", "refused tenant credentials to a worker"),

  // Worker: membership
  "worker-start-failed": e("warn", "a worker's start failed for a while: tried again"),
  registered: e("info", "worker registered"),
  "register-failed": e("warn", "worker registration failed"),
  "waiting-for-previous-registration": e("info", "waiting for this worker id's previous registration to expire"),
  fenced: e("warn", "fenced: heartbeat lost, replicas stopped"),
  unfenced: e("info", "unfenced: heartbeat back"),
  draining: e("info", "draining: handing replicas over"),
  drained: e("info", "drained"),
  deregistered: e("info", "worker deregistered"),
  "deregister-failed": e("warn", "worker deregistration failed"),

  // Worker: replicas and claims
  "replica-running": e("info", "replica running"),
  "replica-stopped": e("info", "replica stopped"),
  "replica-restarting": e("info", "replica restarting with its new spec"),
  "replica-failed": e("warn", "replica failed", (f) => (f.stalled === true ? "error" : undefined)),
  "replica-step-failed": e("warn", "a replica's lifecycle step failed (stepped again after retryInMs)"),
  "replica-start-undone": e("info", "a replica start undone by a fence (started again after the unfence)"),
  "replica-drain-failed": e("warn", "a replica did not drain cleanly"),
  "replica-waiting": e("debug", "replica waiting for its previous holder"),
  "replica-waiting-for-spec": e("debug", "replica waiting for its integration's spec"),
  "claim-released": e("debug", "claim released"),
  "claim-write-failed": e("warn", "a claim could not be written"),
  "release-failed": e("warn", "a claim could not be released"),

  // Worker: tenant connections and credentials
  "tenant-creds": e("debug", "tenant credentials received"),
  "tenant-creds-revoked": e("info", "tenant credentials revoked: new user"),
  "tenant-creds-renew-failed": e("warn", "tenant credentials could not be renewed"),
  "tenant-connection-error": e("warn", "a tenant connection failed"),

  // Worker: flows (one per replica)
  "flow-started": e("debug", "flow started"),
  "flow-stopped": e("debug", "flow stopped"),
  "flow-close-failed": e("warn", "a flow resource did not close cleanly"),
  "flow-sink-not-available": e("warn", "a sink type is not available in this worker"),
  "flow-pull-failed": e("warn", "pulling messages failed"),
  "flow-message-failed": e("warn", "a message failed unexpectedly: redelivered"),
  "flow-progress-unreadable": e("warn", "a message's sink progress could not be read"),
  "flow-dead-letter-failed": e("error", "a message could not be dead-lettered: redelivered"),
  "flow-trace-record-failed": e("warn", "a message's trace record could not be written"),
  "flow-trace-dropped": e("warn", "message trace completions dropped"),
  "flow-payload-not-removed": e("warn", "a large body could not be removed from the object store"),
  "flow-record-written": e("info", "the flow's stats record is written again"),
  "flow-record-failed": e("warn", "the flow's stats record could not be written"),
  "nats-source-subscribed": e("debug", "NATS source subscribed"),
  "nats-source-failed": e("warn", "NATS source subscription failed"),
  "nats-source-lost": e("warn", "NATS source lost a message"),
  "timer-tick-lost": e("warn", "a timer tick could not be stored"),
  "postgres-sink-unavailable": e("warn", "PostgreSQL sink could not write a batch: retried"),
  "cdc-streaming": e("info", "PostgreSQL change stream started"),
  "cdc-not-streaming": e("debug", "PostgreSQL change stream left to replica 0"),
  "cdc-publication-created": e("info", "PostgreSQL publication created"),
  "cdc-slot-created": e("info", "PostgreSQL replication slot created"),
  "cdc-stream-failed": e("warn", "PostgreSQL change stream failed: retried"),
  "cdc-persist-failed": e("warn", "a PostgreSQL change could not be stored yet: retried"),
  "cdc-slot-lag": e("debug", "PostgreSQL replication slot lag"),
  "file-read": e("info", "a file source read a file and did its afterRead"),
  "file-ingest-retry": e("warn", "a file source waits for the ingest stream: retried"),
  "file-read-failed": e("warn", "a file source could not read a claimed file: read again at the next poll"),
  "file-poll-failed": e("warn", "a file source poll failed"),
  "file-set-aside": e("warn", "a file source set a file aside unread"),

  // Gateway
  ready: e("info", "gateway ready"),
  stopped: e("info", "stopped"),
  "routes-loaded": e("info", "routes loaded"),
  "routes-waiting": e("warn", "waiting for the platform state to load routes"),
  "route-added": e("debug", "route added"),
  "route-removed": e("debug", "route removed"),
  "secret-unavailable": e("warn", "a webhook signing secret cannot be read: 503"),
  "ingest-failed": e("warn", "a webhook could not be stored"),
  "request-failed": e("error", "unexpected error answering a request: 500"),
  "tenant-link-error": e("warn", "a tenant connection failed"),

  // Status API
  "state-open": e("info", "the platform state is open: serving"),
  "state-unavailable": e("warn", "the platform state cannot be read yet: 503 until it can"),
  "plan-unavailable": e("warn", "the committed head cannot be planned (its branch cannot be read): 503"),
};

/** The event's level: its row's, refined by its fields where the row says so; the default for an unknown event. */
export function levelOf(event: string, fields: Record<string, unknown> = {}): LogLevel {
  const row = Object.hasOwn(EVENT_LEVELS, event) ? EVENT_LEVELS[event] : undefined;
  if (!row) return DEFAULT_EVENT_LEVEL;
  return row.refine?.(fields) ?? row.level;
}

/** The event's short human message; the event's name when the table does not know it. */
export function messageOf(event: string): string {
  return (Object.hasOwn(EVENT_LEVELS, event) ? EVENT_LEVELS[event]?.msg : undefined) ?? event;
}
