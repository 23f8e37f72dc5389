#!/usr/bin/env node
/**
 * `npm run cluster`: the engine as a local multi-process topology on a 3-server NATS JetStream cluster
 * (topology.ts; docs/operations.md, "A local cluster"), with a signed example order sent through once it is up.
 * Runs until Ctrl-C (or SIGTERM), then stops every process: exit 0 after a clean stop, 1 when it could not start,
 * 130 after a second Ctrl-C.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { checkedOutBranch } from "../cli/commands/up.js";
import { errorMessage } from "../errors/errors.js";
import { sendExampleOrder } from "./example.js";
import { LocalTopology } from "./topology.js";

const USAGE = `usage: npm run cluster -- [options]
  --repo <dir>            git repository to follow (default: .)
  --branch <name>         branch to follow (default: the checked-out branch)
  --data <dir>            keys, NATS stores, secrets and logs (default: .vrsky/cluster)
  --gateway-listen <addr> the gateway's address (default: 127.0.0.1:0, a free port)
  --api-listen <addr>     the status API's address (default: 127.0.0.1:0, a free port)
  --no-example            do not send the example order once everything is up`;

const say = (line: string) => process.stdout.write(line + "\n");

function args(): { repo: string; branch?: string; data: string; gateway: string; api: string; example: boolean } {
  try {
    const { values } = parseArgs({
      options: {
        repo: { type: "string", default: "." },
        branch: { type: "string" },
        data: { type: "string", default: ".vrsky/cluster" },
        "gateway-listen": { type: "string", default: "127.0.0.1:0" },
        "api-listen": { type: "string", default: "127.0.0.1:0" },
        "no-example": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    });
    if (values.help) {
      say(USAGE);
      process.exit(0);
    }
    return {
      repo: resolve(values.repo),
      ...(values.branch ? { branch: values.branch } : {}),
      data: values.data,
      gateway: values["gateway-listen"],
      api: values["api-listen"],
      example: !values["no-example"],
    };
  } catch (e) {
    process.stderr.write(`${errorMessage(e)}\n${USAGE}\n`);
    process.exit(2);
  }
}

const o = args();
let topology: LocalTopology | undefined;
let stopping = false;
let wake: (() => void) | undefined;
const stopped = new Promise<void>((r) => (wake = r));

function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    // A second Ctrl-C: leave at once, taking every process group down.
    topology?.killNow();
    process.exit(130);
  }
  stopping = true;
  say(`\n${signal}: stopping the gateway, the API, the workers (they drain), the reconcilers and NATS…`);
  wake?.();
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
process.on("exit", () => topology?.killNow());

say(
  "VRSky local cluster: 3 NATS servers, 2 reconcilers, 3 workers, a gateway and the status API (docs/operations.md)\n",
);
try {
  const branch = o.branch ?? (await checkedOutBranch(o.repo));
  topology = new LocalTopology({
    repo: o.repo,
    branch,
    data: o.data,
    gatewayListen: o.gateway,
    apiListen: o.api,
    say,
  });
  const started = topology.start();
  started.catch(() => undefined); // seen below; after a Ctrl-C during the start, its "interrupted" is expected
  await Promise.race([started, stopped]);
  if (!stopping) {
    const info = await started;
    say(
      [
        "",
        "VRSky cluster is running.",
        `  NATS        ${info.nats}`,
        `  status      npx vrsky status --nats ${info.nats} --keys ${info.keys}`,
        `  webhooks    ${info.gateway}/t/<tenant><path> (e.g. ${info.gateway}/t/acme/orders)`,
        `  status API  ${info.api}/api/v1/sync (Authorization: Bearer <admin key${info.adminKeyFile ? ` in ${info.adminKeyFile}` : ": $VRSKY_API_ADMIN_KEY"}>)`,
        `  logs        ${resolve(o.data, "logs")}`,
        "  stop        Ctrl-C",
        "",
      ].join("\n"),
    );
    if (o.example) {
      say("Sending an example order through the gateway (integrations/acme/orders-to-slack.yaml):");
      await sendExampleOrder(topology, 1042).catch((e: unknown) =>
        say(`  ✗ the example did not arrive: ${errorMessage(e)}`),
      );
      say("");
    }
    await stopped;
  }
  await topology.stop();
  say("stopped: no process left.");
  process.exitCode = 0;
} catch (e) {
  say(`✗ the cluster could not start: ${errorMessage(e)}`);
  await topology?.stop().catch(() => topology?.killNow());
  process.exitCode = 1;
}
