import { resolve, join } from "node:path";
import type { Command } from "commander";
import { git } from "../../git/exec.js";
import { existsSync } from "node:fs";
import { initKeys, KEY_FILES, loadKeys } from "../../accounts/keys.js";
import { startOperatorServer } from "../../accounts/local.js";
import { LocalNatsServer } from "../../nats/local-server.js";
import type { CliContext } from "../context.js";
import { runReconcile } from "./reconcile.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../nats/connect.js";
import { secretSource } from "../../secrets/sources.js";
import { Worker } from "../../worker/worker.js";
import { VrskyError } from "../../errors/errors.js";
import { jsonLog } from "../output.js";

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
    .action(
      async (o: {
        repo: string;
        branch?: string;
        nats?: string;
        data: string;
        listen: string;
        workerCapacity: string;
      }) => {
        const capacity = Number(o.workerCapacity);
        if (!/^\d+$/.test(o.workerCapacity) || capacity > 100_000) {
          throw new VrskyError(
            "VRS_USAGE",
            `--worker-capacity must be a whole number from 0 to 100000, not '${o.workerCapacity}'`,
          );
        }
        const repo = resolve(o.repo);
        if ((await git(repo, ["rev-parse", "--git-dir"])).code !== 0)
          throw new VrskyError("VRS_GIT_NOT_A_REPO", `${repo} is not a git repository`);
        const branch = o.branch ?? (await checkedOutBranch(repo));
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
            ctx.stderr.write(`created operator keys in ${keysDir} (mode 0600; keep them out of git)\n`);
          }
          LocalNatsServer.binary();
          const dir = resolve(o.data, "nats");
          ctx.stderr.write(`starting nats-server (operator mode, JetStream, data in ${dir})…\n`);
          server = await startOperatorServer(loadKeys(keysDir), { dir });
          url = server.url;
        }
        try {
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
            },
            ctx,
            {
              onReady: async (r) => {
                if (capacity > 0) {
                  const creds = keysDir ? loadKeys(keysDir).files.platformCreds : undefined;
                  workerNc = await connectNats({ url: url!, creds, name: "vrsky-worker-local" });
                  // Local: sinks may reach receivers on this machine; secrets are the repository's sealed ones.
                  const flow = { secrets: secretSource({ repo, keysDir }), allowPrivateNetworks: true };
                  worker = new Worker({ nc: workerNc, id: "local", capacity, log: jsonLog(ctx), flow });
                  await worker.start();
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
                          `  keys        ${keysDir} (operator mode; \`npx vrsky creds --keys ${keysDir} --tenant <name>\` for a tenant user)`,
                        ]
                      : []),
                    `  state       ${s ? `${s.lastRun.outcome} at ${s.observedRevision.slice(0, 12)}` : "reconciling…"}`,
                    `  worker      ${worker ? `local (capacity ${capacity}, in this process; more: npx vrsky worker --nats ${url}${keysDir ? ` --keys ${keysDir}` : ""} --id w2)` : "none (--worker-capacity 0)"}`,
                    "  stop        Ctrl-C",
                    "",
                  ].join("\n"),
                );
              },
              beforeStop: async () => {
                await worker?.drain(5_000);
              },
            },
          );
        } finally {
          await worker?.close();
          await workerNc?.drain().catch(() => workerNc?.close());
          await server?.stop();
        }
      },
    );
}

async function checkedOutBranch(repo: string): Promise<string> {
  const r = await git(repo, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  if (r.code !== 0)
    throw new VrskyError("VRS_GIT_BAD_REF", `no branch is checked out in ${repo} (detached HEAD): pass --branch`);
  return r.stdout.toString("utf8").trim();
}
