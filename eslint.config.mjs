// Lint: typescript-eslint's recommended rules, and the direction of imports inside engine/ (docs/architecture.md).
// The import rules are the layering: the pure core imports no I/O; the two planes never import each other.
import tseslint from "typescript-eslint";

/** The pure core: data, rules and decisions. No I/O, no NATS, no process, no plane. */
const PURE = ["contract", "model", "manifests", "plan", "scheduler", "errors", "connectors", "pipeline", "text"];
/** Folders of the effectful shell, by what may not be imported from where. */
const PLANES = ["reconciler", "worker", "gateway", "views", "api", "cli"];
const SHARED = [
  "state",
  "nats",
  "git",
  "accounts",
  "provision",
  "discovery",
  "telemetry",
  "secrets",
  "dataplane",
  "util",
];
const SHELL = [...SHARED, ...PLANES];

const IO_MODULES = [
  "node:fs",
  "node:fs/promises",
  "node:net",
  "node:http",
  "node:https",
  "node:http2",
  "node:tls",
  "node:dgram",
  "node:dns",
  "node:child_process",
  "node:os",
  "node:worker_threads",
  "node:cluster",
  "node:readline",
  "fs",
  "net",
  "http",
  "https",
  "child_process",
  "os",
];
const IO_PACKAGES = ["@nats-io/*", "commander", "fastify", "@fastify/*", "undici", "pg", "@octokit/*"];

const folders = (names) => names.map((n) => `**/${n}/**`);
const forbid = (names, message) => ({ group: folders(names), message });

/** no-restricted-imports for files under engine/<folder>/: the folders (and modules) they may not import. */
function layer(folder, { notFolders, message, io = false }) {
  const patterns = [forbid(notFolders, message)];
  if (io) patterns.push({ group: IO_PACKAGES, message: "the pure core does no I/O: move this code to the shell" });
  return {
    files: [`engine/${folder}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: io
            ? IO_MODULES.map((name) => ({ name, message: "the pure core does no I/O: move this code to the shell" }))
            : [],
          patterns,
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".vrsky/**", "engine/model/generated.ts"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  // chai's property assertions (`expect(x).to.be.ok`) are expressions.
  { files: ["test/**/*.ts"], rules: { "@typescript-eslint/no-unused-expressions": "off" } },
  ...PURE.map((f) =>
    layer(f, { notFolders: SHELL, io: true, message: "the pure core imports nothing from the shell or the planes" }),
  ),
  ...SHARED.map((f) =>
    layer(f, {
      notFolders: PLANES,
      message: "shared shell code imports no plane (reconciler, worker, gateway, views, api, cli)",
    }),
  ),
  layer("reconciler", {
    notFolders: ["worker", "gateway", "views", "api", "cli"],
    message: "the control plane never imports the worker plane, the gateway, the views or the CLI",
  }),
  layer("worker", {
    notFolders: ["reconciler", "gateway", "views", "api", "cli"],
    message: "the worker plane never imports the control plane, the gateway, the views or the CLI",
  }),
  layer("gateway", {
    notFolders: ["reconciler", "worker", "views", "api", "cli"],
    message: "the gateway imports no other plane: it shares only the contract and the shell",
  }),
  layer("views", {
    notFolders: ["reconciler", "worker", "gateway", "api", "cli"],
    message: "the read model reads the contract through state access; it imports no plane",
  }),
  layer("api", {
    notFolders: ["reconciler", "worker", "gateway", "cli"],
    message: "the status API reads the state through the read model (views) and state access; it imports no plane",
  }),
);
