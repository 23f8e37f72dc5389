import { resolve, join } from "node:path";
import type { Command } from "commander";
import { git } from "../../git/exec.js";
import { ensureIgnoredFolder, refuseTrackedKeys } from "../../git/ignored-folder.js";
import { existsSync } from "node:fs";
import { workerUser } from "../../accounts/worker-identity.js";
import { initKeys, KEY_FILES, loadKeys } from "../../accounts/keys.js";
import { startOperatorServer } from "../../accounts/local.js";
import { LocalNatsServer } from "../../nats/local-server.js";
import type { CliContext } from "../context.js";
import { runReconcile } from "./reconcile.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { closeNats, connectNats } from "../../nats/connect.js";
import { secretSource } from "../../secrets/sources.js";
import { Worker } from "../../worker/worker.js";
import { parseReplicas } from "../../nats/replication.js";
import { VrskyError } from "../../errors/errors.js";
import { eventLog, logSettings } from "../log/event-log.js";
import { processTelemetry } from "../telemetry.js";
import { startLocalApi, type LocalApi } from "./up-api.js";
import { DATA_PLANE_SAMPLE_RATIO, startTracing } from "../../telemetry/tracing.js";
import { packageVersion } from "../../util/package-root.js";
import { startGateway, type Gateway } from "../../gateway/gateway.js";
import { loadCommitted } from "../../git/load-revision.js";
import { isIntegration } from "../../model/resources.js";
import { startDemoReceiver, type DemoReceiver } from "../demo-receiver.js";
import { parseListen } from "../../util/listen-address.js";
import { ensureDemoSecrets, type DemoSecret } from "../demo-secrets.js";

export function registerUp(program: Command, ctx: CliContext): void {
  program
    .command("up")
    .description(
      "Run the whole engine locally on a repository (what `npm start` runs): starts its own nats-server unless --nats is given",
    )
    .option("--repo <dir>", "the git repository holding tenants/ and integrations/", ".")
    .option("--branch <name>", "branch to follow (default: the checked-out branch)")
    .option("--nats <url>", "use this NATS server instead of starting one")
    .option("--data <dir>", "where the local nats-server keeps its data", ".vrsky")
    .option("--listen <addr>", "serve /healthz, /readyz and /metrics here", "127.0.0.1:0")
    .option("--worker-capacity <n>", "capacity of the worker run in this process (0: run no worker)", "50")
    .option("--gateway-listen <addr>", "serve the webhook gateway here (`off`: no gateway)", "127.0.0.1:8080")
    .option("--api-listen <addr>", "serve the read-only status API here (`off`: no API)", "127.0.0.1:8090")
    .option("--receiver-listen <addr>", "serve the stand-in receiver of the examples here (`off`: none)", "127.0.0.1:0")
    .option("--secrets-dir <dir>", "secrets as files <dir>/<tenant>/<name> (default <data>/secrets, with demo values)")
    .option("--file-root <dir>", "file sources and sinks read and write under <dir>/<tenant>/ (default <data>/files)")
    .option(
      "--replicas <n>",
      "copies JetStream keeps of every bucket and stream this process creates: auto (3 on a cluster of 3 or more servers, else 1), 1, 3 or 5",
      "auto",
    )
    .action(
      async (o: {
        repo: string;
        branch?: string;
        nats?: string;
        data: string;
        listen: string;
        workerCapacity: string;
        gatewayListen: string;
        apiListen: string;
        receiverListen: string;
        secretsDir?: string;
        fileRoot?: string;
        replicas: string;
      }) => {
        const capacity = Number(o.workerCapacity);
        if (!/^\d+$/.test(o.workerCapacity) || capacity > 100_000) {
          throw new VrskyError(
            "VRS_USAGE",
            `--worker-capacity must be a whole number from 0 to 100000, not '${o.workerCapacity}'`,
          );
        }
        // Every address with the other flags, before any I/O (`off`: that server does not run).
        parseListen(o.listen, "--listen");
        const replicas = parseReplicas(o.replicas);
        const logs = logSettings(process.env, ctx.stderr);
        const gatewayListen = o.gatewayListen === "off" ? undefined : parseListen(o.gatewayListen, "--gateway-listen");
        const apiListen = o.apiListen === "off" ? undefined : parseListen(o.apiListen, "--api-listen");
        const receiverListen =
          o.receiverListen === "off" ? undefined : parseListen(o.receiverListen, "--receiver-listen");
        const repo = resolve(o.repo);
        if ((await git(repo, ["rev-parse", "--git-dir"])).code !== 0)
          throw new VrskyError("VRS_GIT_NOT_A_REPO", `${repo} is not a git repository`);
        const branch = o.branch ?? (await checkedOutBranch(repo));
        // The data folder holds the operator keys and secrets: a repository that holds it must never commit it.
        if (!o.nats) await refuseTrackedKeys(resolve(o.data, "keys"));
        ensureIgnoredFolder(o.data);
        let server: LocalNatsServer | undefined;
        let url = o.nats;
        let keysDir: string | undefined;
        let worker: Worker | undefined;
        let workerNc: NatsConnection | undefined;
        if (!url) {
          // The embedded default runs in operator mode, as production does: tenants get real NATS accounts.
          keysDir = resolve(o.data, "keys");
          if (!existsSync(join(keysDir, KEY_FILES.operatorSeed))) {
            initKeys(keysDir);
            ctx.stdout.write(
              `created operator keys in ${keysDir} (mode 0600; ignored by git through ${join(keysDir, ".gitignore")})\n`,
            );
          }
          LocalNatsServer.binary();
          const dir = resolve(o.data, "nats");
          ctx.stdout.write(`starting nats-server (operator mode, JetStream, data in ${dir})…\n`);
          server = await startOperatorServer(loadKeys(keysDir), { dir });
          url = server.url;
        }
        let gateway: Gateway | undefined;
        let gatewayNc: NatsConnection | undefined;
        let api: LocalApi | undefined;
        let receiver: DemoReceiver | undefined;
        const secretsDir = resolve(o.secretsDir ?? join(o.data, "secrets"));
        const secrets = secretSource({ secretsDir, repo, ...(keysDir ? { keysDir } : {}) });
        // One set of series for the process: --listen's /metrics shows the reconciler's, the worker's and the gateway's.
        const telemetry = processTelemetry();
        // The in-process worker's and gateway's spans (the reconciler's are its own: runReconcile).
        const tracing = startTracing({
          service: "vrsky-up",
          version: packageVersion(),
          sampleRatio: DATA_PLANE_SAMPLE_RATIO,
        });
        try {
          let demo: DemoSecret[] = [];
          if (receiverListen) {
            receiver = await startDemoReceiver(receiverListen, (line) => ctx.stdout.write(`${line}\n`));
            if (!o.secretsDir) {
              const head = await loadCommitted(repo, branch);
              demo = await ensureDemoSecrets(secretsDir, head.state.resources.filter(isIntegration), receiver.url, {
                source: secrets,
                revision: head.revision,
              });
            }
          }
          ctx.exitCode = await runReconcile(
            {
              repo,
              branch,
              nats: url,
              once: false,
              fetchInterval: "30s",
              resync: "60s",
              leaseTtl: "5s",
              maxDeleteShare: "0.5",
              allowPrune: false,
              listen: o.listen,
              stateDir: join(o.data),
              provisioner: "local",
              namespace: "vrsky",
              keys: keysDir,
              workerCredsTtl: "15m",
              secretsDir,
              replicas: o.replicas,
            },
            ctx,
            {
              onReady: async (r) => {
                if (capacity > 0) {
                  const creds = keysDir ? loadKeys(keysDir).files.platformCreds : undefined;
                  workerNc = await connectNats({ url: url!, creds, name: "vrsky-worker-local" });
                  worker = new Worker({
                    nc: workerNc,
                    id: "local",
                    ...(keysDir ? { identity: workerUser(loadKeys(keysDir), "local").identity } : {}),
                    capacity,
                    jetstreamReplicas: replicas,
                    meter: telemetry.meter,
                    log: eventLog(ctx.stderr, "worker", logs),
                    // Local: the examples' sinks call the stand-in receiver on loopback.
                    flow: {
                      secrets,
                      allowPrivateNetworks: true,
                      fileRoot: resolve(o.fileRoot ?? join(o.data, "files")),
                      tracer: tracing.tracer,
                    },
                  });
                  await worker.start();
                }
                if (gatewayListen) {
                  const creds = keysDir ? loadKeys(keysDir).files.platformCreds : undefined;
                  gatewayNc = await connectNats({ url: url!, creds, name: "vrsky-gateway-local" });
                  gateway = await startGateway({
                    nc: gatewayNc,
                    ...(keysDir ? { keys: loadKeys(keysDir) } : {}),
                    listen: gatewayListen,
                    listenFlag: "--gateway-listen",
                    secrets,
                    telemetry,
                    log: eventLog(ctx.stderr, "gateway", logs),
                    tracer: tracing.tracer,
                  });
                  await gateway.ready;
                }
                if (apiListen) {
                  api = await startLocalApi({
                    url: url!,
                    creds: keysDir ? loadKeys(keysDir).files.platformCreds : undefined,
                    listen: apiListen,
                    data: o.data,
                    log: eventLog(ctx.stderr, "api", logs),
                    telemetry,
                    repo: { dir: repo, branch },
                  });
                }
                const s = r.lastStatus();
                ctx.stdout.write(
                  [
                    "",
                    "VRSky is running.",
                    `  repository  ${repo} (branch ${branch}; commit to apply, the reconciler picks it up at once)`,
                    `  NATS        ${url}${server ? " (local nats-server started by vrsky)" : ""}`,
                    `  status      npx vrsky status --nats ${url}${keysDir ? ` --keys ${keysDir}` : ""}`,
                    ...(keysDir
                      ? [
                          `  keys        ${keysDir} (operator mode; \`npx vrsky creds --keys ${keysDir} --nats ${url} --tenant <name>\` for a tenant user)`,
                        ]
                      : []),
                    `  state       ${s ? `${s.lastRun.outcome} at ${s.observedRevision.slice(0, 12)}` : "reconciling…"}`,
                    `  webhooks    ${gateway ? `${gateway.url}/t/<tenant><path> (e.g. ${gateway.url}/t/acme/orders)` : "no gateway (--gateway-listen off)"}`,
                    `  status API  ${api ? `${api.api.url}/api/v1/sync (Authorization: Bearer <admin key${api.keyFile ? ` in ${api.keyFile}` : ": $VRSKY_API_ADMIN_KEY"}>; docs/api.md)` : "none (--api-listen off)"}`,
                    ...(api ? [`  status page ${api.api.url}/ (in a browser; sign in with the same key)`] : []),
                    ...(receiver
                      ? [`  receiver    ${receiver.url} (stand-in for the examples' outside services)`]
                      : []),
                    ...demo.map(
                      (d) =>
                        `  secret      ${d.tenant}/${d.name}: ${d.kind === "signing" ? "webhook signing secret" : "points at the stand-in receiver"} in ${d.file}`,
                    ),
                    `  worker      ${worker ? `local (capacity ${capacity}, in this process; more: npx vrsky worker --nats ${url}${keysDir ? ` --keys ${keysDir}` : ""} --id w2)` : "none (--worker-capacity 0)"}`,
                    "  stop        Ctrl-C",
                    "",
                  ].join("\n"),
                );
              },
              beforeStop: async () => {
                await api?.close();
                await gateway?.close();
                await worker?.drain(5_000);
              },
              telemetry,
            },
          );
        } finally {
          await api?.close();
          await gateway?.close();
          if (gatewayNc) await closeNats(gatewayNc);
          await receiver?.close();
          await worker?.close();
          if (workerNc) await closeNats(workerNc);
          await server?.stop();
          await telemetry.shutdown();
          await tracing.shutdown();
        }
      },
    );
}

/** The branch checked out in `repo`; VRS_GIT_BAD_REF on a detached HEAD. */
export async function checkedOutBranch(repo: string): Promise<string> {
  const r = await git(repo, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  if (r.code !== 0)
    throw new VrskyError("VRS_GIT_BAD_REF", `no branch is checked out in ${repo} (detached HEAD): pass --branch`);
  return r.stdout.toString("utf8").trim();
}
