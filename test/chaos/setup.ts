/**
 * What the chaos run starts from: a git repository of 3 shared tenants with 2 webhook integrations each (an `http`
 * source, signed, and an `http` sink that the topology points at its stand-in receiver), and, when the machine
 * allows a network namespace, worker w3 run inside it, reaching NATS and the receiver through forwarders over its
 * veth pair (netns.ts).
 */
import type { LocalTopology, WorkerLaunch } from "../../engine/cluster/topology.js";
import { TestRepo } from "../helpers/git-repo.js";
import type { WorkerNamespace } from "./netns.js";

export const TENANTS = ["acme", "bravo", "citrus"].map((name) => ({
  name,
  integrations: [
    { name: "orders", path: "/orders", secretName: "orders-signing" },
    { name: "invoices", path: "/invoices", secretName: "invoices-signing" },
  ],
}));

export function chaosRepo(): TestRepo {
  const repo = new TestRepo("vrsky-chaos-repo-");
  for (const t of TENANTS) {
    repo.write(
      `tenants/${t.name}.yaml`,
      `apiVersion: vrsky.io/v1\nkind: Tenant\nmetadata:\n  name: ${t.name}\nspec:\n  tier: shared\n` +
        `  limits:\n    integrations: 10\n    connections: 50\n`,
    );
    for (const i of t.integrations)
      repo.write(
        `integrations/${t.name}/${i.name}.yaml`,
        [
          "apiVersion: vrsky.io/v1",
          "kind: Integration",
          "metadata:",
          `  name: ${i.name}`,
          `  tenant: ${t.name}`,
          "spec:",
          "  replicas: 1",
          "  source:",
          "    type: http",
          `    config: { path: ${i.path}, signature: { secretRef: ${i.secretName} } }`,
          "  sinks:",
          "    - name: out",
          "      type: http",
          `      config: { secretRef: ${i.name}-endpoint, timeout: 5s }`,
          "  retry: { maxAttempts: 20, initialBackoff: 250ms, maxBackoff: 2s, multiplier: 2 }",
          "",
        ].join("\n"),
      );
  }
  repo.commit("chaos: 3 tenants, 2 webhook integrations each");
  return repo;
}

/**
 * Worker w3 in the namespace, with the same flags: 127.0.0.1 there leads to the host's NATS servers and receiver
 * (WorkerNamespace.bridge). Other workers as given.
 */
export async function workerInNamespace(
  ns: WorkerNamespace,
  topology: LocalTopology,
  id: string,
  args: string[],
): Promise<WorkerLaunch> {
  if (id !== "w3") return { args };
  const ports = topology.cluster!.servers.map((s) => s.port);
  await ns.bridge([...ports, Number(new URL(topology.receiver!.url).port)]);
  return { args, prefix: ns.prefix };
}
