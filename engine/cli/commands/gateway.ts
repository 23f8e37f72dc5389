/** `vrsky gateway`: runs the ingest gateway (engine/gateway/) until SIGTERM or SIGINT, then shuts it down gracefully. */
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadKeys } from "../../accounts/keys.js";
import { platformCredsFile } from "../../accounts/platform-user.js";
import { VrskyError } from "../../errors/errors.js";
import { startGateway, type Gateway } from "../../gateway/gateway.js";
import { processTelemetry } from "../telemetry.js";
import { parseSize } from "../../manifests/durations.js";
import { closeNats, connectNats } from "../../nats/connect.js";
import { DATA_PLANE_SAMPLE_RATIO, startTracing } from "../../telemetry/tracing.js";
import { packageVersion } from "../../util/package-root.js";
import type { CliContext } from "../context.js";
import { commandLog, type EventLog } from "../log/event-log.js";
import { watchSignals, type SignalWatch } from "../signals.js";
import { parseListen, type ListenAddress } from "../../util/listen-address.js";
import { durationFlag } from "./reconcile.js";

export interface GatewayFlags {
  nats: string;
  creds?: string;
  keys?: string;
  listen: string;
  secretsDir?: string;
  repo?: string;
  maxBody: string;
  drainTimeout: string;
}

export function registerGateway(program: Command, ctx: CliContext): void {
  program
    .command("gateway")
    .description(
      "Run the ingest gateway: receive webhooks at /t/<tenant>/<path> and store each in its integration's ingest stream",
    )
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform, comma-separated")
    .option("--creds <file>", "NATS credentials file of the platform account (default with --keys: its platform.creds)")
    .option("--keys <dir>", "operator keys from `vrsky init`: reach tenants as user vrsky-gateway of their accounts")
    .option(
      "--listen <addr>",
      "serve webhooks, /healthz, /readyz and /metrics on host:port, [ipv6]:port, :port (every interface) or port (loopback)",
      "127.0.0.1:8080",
    )
    .option(
      "--secrets-dir <dir>",
      "signature secrets as files <dir>/<tenant>/<name> (e.g. a mounted Kubernetes Secret)",
    )
    .option("--repo <dir>", "git repository with sealed secrets (secrets/<tenant>/<name>.age); needs --keys")
    .option("--max-body <size>", "the largest body any webhook may send, whatever its maxBodyBytes", "64MiB")
    .option("--drain-timeout <duration>", "on SIGTERM, how long in-flight requests may take", "10s")
    .addHelpText(
      "after",
      "\nOn SIGTERM or Ctrl-C the gateway stops accepting, answers the requests in flight, closes its connections and\n" +
        "exits 0. A second signal exits at once.\n" +
        "Exit codes: 0 stopped cleanly, 2 usage or environment error.",
    )
    .action(async (flags: GatewayFlags) => {
      ctx.exitCode = await runGateway(flags, ctx);
    });
}

export async function runGateway(
  flags: GatewayFlags,
  ctx: CliContext,
  onReady?: (g: Gateway) => void,
): Promise<number> {
  const maxBody = parseSize(flags.maxBody);
  if (maxBody === undefined || maxBody < 1)
    throw new VrskyError("VRS_USAGE", `--max-body '${flags.maxBody}' is not a size of at least 1 byte (e.g. 64MiB)`);
  const drainTimeoutMs = durationFlag("--drain-timeout", flags.drainTimeout);
  if (flags.repo && !flags.keys)
    throw new VrskyError("VRS_USAGE", "--repo needs --keys: sealed secrets are opened with the key folder's identity");
  const listen = parseListen(flags.listen, "--listen");
  const keys = flags.keys ? loadKeys(flags.keys) : undefined;
  const creds = platformCredsFile(flags.creds, keys);
  const log = commandLog(ctx, "gateway");
  // Before any I/O: a signal from now on stops the gateway gracefully, even one that arrives while it connects.
  const signals = watchSignals();
  try {
    return await serve(flags, { listen, keys, creds, drainTimeoutMs, maxBody, log, signals }, onReady);
  } finally {
    signals.stop();
  }
}

async function serve(
  flags: GatewayFlags,
  c: {
    listen: ListenAddress;
    keys: ReturnType<typeof loadKeys> | undefined;
    creds: string | undefined;
    drainTimeoutMs: number;
    maxBody: number;
    log: EventLog;
    signals: SignalWatch;
  },
  onReady?: (g: Gateway) => void,
): Promise<number> {
  const { listen, keys, creds, drainTimeoutMs, maxBody, log, signals } = c;
  const nc = await connectNats({
    url: flags.nats,
    creds,
    name: "vrsky-gateway",
    jetstream: true,
  });
  let gateway: Gateway | undefined;
  const tracing = startTracing({
    service: "vrsky-gateway",
    version: packageVersion(),
    sampleRatio: DATA_PLANE_SAMPLE_RATIO,
  });
  const telemetry = processTelemetry();
  try {
    gateway = await startGateway({
      nc,
      telemetry,
      ...(keys ? { keys } : {}),
      listen,
      secrets: {
        ...(flags.secretsDir ? { secretsDir: resolve(flags.secretsDir) } : {}),
        ...(flags.repo ? { repo: resolve(flags.repo), keysDir: keys!.dir } : {}),
      },
      maxBodyBytes: maxBody,
      drainTimeoutMs,
      log,
      tracer: tracing.tracer,
    });
    const g = gateway;
    void g.ready.then(() => {
      log("ready", { url: g.url });
      onReady?.(g);
    });
    const signal = await signals.signal;
    log("stopping", { signal });
    await gateway.close();
    log("stopped", {});
    return 0;
  } finally {
    await gateway?.close();
    await closeNats(nc);
    await tracing.shutdown();
    await telemetry.shutdown();
  }
}
