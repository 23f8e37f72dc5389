import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot, packageVersion } from "../../engine/util/package-root.js";
import { DOCKERFILE, readInstructions } from "../helpers/dockerfile.js";

/**
 * Builds deploy/Dockerfile and runs the image, when a builder works on this machine: a Docker or Podman engine
 * that answers, or buildah (rootless, chroot isolation, vfs storage, so that it also works inside a container).
 * Without one, or when the base images cannot be pulled (no registry access), the test is skipped with the reason.
 */

interface Result {
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error (tini warns there when it is not PID 1, as under `buildah run`). */
  err: string;
}

function run(cmd: string, args: string[], timeout: number): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, out: stdout.trim(), err: stderr.trim() });
    });
  });
}

/** The line of a command's output that says what went wrong: the first naming an error, else the last. */
const errorLine = (s: string) => {
  const lines = s.split("\n").filter((l) => l.trim() !== "");
  return lines.find((l) => /error/i.test(l)) ?? lines.at(-1) ?? "(no output)";
};

interface Builder {
  name: string;
  /** Makes the image available: already there (a machine loaded with its base images), or pulled. */
  pull(image: string): Promise<Result>;
  build(tag: string): Promise<Result>;
  /** The image's entrypoint and user. */
  config(tag: string): Promise<{ Entrypoint: string[]; User: string }>;
  /** Runs the image's entrypoint with arguments. */
  runImage(tag: string, args: string[]): Promise<Result>;
  /** Runs a program in the image instead of its entrypoint. */
  exec(tag: string, argv: string[]): Promise<Result>;
  remove(tag: string): Promise<void>;
}

const MINUTE = 60_000;

function engine(cmd: "docker" | "podman"): Builder {
  return {
    name: cmd,
    pull: async (image) =>
      (await run(cmd, ["image", "inspect", image], MINUTE)).code === 0
        ? { code: 0, out: "", err: "" }
        : run(cmd, ["pull", image], 10 * MINUTE),
    build: (tag) => run(cmd, ["build", "-f", DOCKERFILE, "-t", tag, packageRoot()], 20 * MINUTE),
    config: async (tag) =>
      JSON.parse((await run(cmd, ["image", "inspect", "--format", "{{json .Config}}", tag], MINUTE)).out) as never,
    runImage: (tag, args) => run(cmd, ["run", "--rm", tag, ...args], 2 * MINUTE),
    exec: (tag, argv) => run(cmd, ["run", "--rm", "--entrypoint", argv[0]!, tag, ...argv.slice(1)], 2 * MINUTE),
    remove: async (tag) => void (await run(cmd, ["rmi", "-f", tag], MINUTE)),
  };
}

function buildah(): Builder {
  const b = (args: string[], timeout: number) => run("buildah", ["--storage-driver", "vfs", ...args], timeout);
  const config = async (tag: string) => {
    const inspected = JSON.parse((await b(["inspect", "--type", "image", tag], MINUTE)).out) as {
      OCIv1: { config: { Entrypoint: string[]; User: string } };
    };
    return inspected.OCIv1.config;
  };
  const inContainer = async (tag: string, argv: string[]): Promise<Result> => {
    const from = await b(["from", "--pull-never", tag], 5 * MINUTE);
    if (from.code !== 0) return from;
    const ctr = from.out.split("\n").at(-1)!.trim();
    try {
      const { User } = await config(tag);
      return await b(["run", "--isolation", "chroot", "--user", User, ctr, "--", ...argv], 2 * MINUTE);
    } finally {
      await b(["rm", ctr], MINUTE);
    }
  };
  return {
    name: "buildah",
    pull: (image) => b(["pull", "--policy", "missing", image], 10 * MINUTE),
    build: (tag) => b(["bud", "--isolation", "chroot", "-f", DOCKERFILE, "-t", tag, packageRoot()], 20 * MINUTE),
    config,
    runImage: async (tag, args) => inContainer(tag, [...(await config(tag)).Entrypoint, ...args]),
    exec: inContainer,
    remove: async (tag) => void (await b(["rmi", "-f", tag], MINUTE)),
  };
}

/** The first builder that works here, or why there is none. */
async function findBuilder(): Promise<Builder | string> {
  const tried: string[] = [];
  for (const [cmd, make] of [
    ["docker", () => engine("docker")],
    ["podman", () => engine("podman")],
    ["buildah", buildah],
  ] as const) {
    const r = await run(cmd, cmd === "buildah" ? ["--storage-driver", "vfs", "info"] : ["info"], 30_000);
    if (r.code === 0) return make();
    tried.push(`${cmd}: ${r.code === -1 ? "not installed" : errorLine(`${r.out}\n${r.err}`)}`);
  }
  return `no container builder works on this machine (${tried.join("; ")})`;
}

/** The base images, as the Dockerfile's ARG defaults name them. */
function baseImages(): string[] {
  return readInstructions()
    .filter((i) => i.op === "ARG" && /_IMAGE=/.test(i.args))
    .map((i) => i.args.split("=")[1]!);
}

describe("deploy/Dockerfile: the image builds and runs vrsky as a non-root user", function () {
  this.timeout(30 * MINUTE);
  const tag = `localhost/vrsky-image-test:${process.pid}`;
  let builder: Builder | undefined;

  before(async function () {
    const found = await findBuilder();
    let reason = typeof found === "string" ? found : undefined;
    if (typeof found !== "string") {
      for (const image of baseImages()) {
        const pulled = await found.pull(image);
        if (pulled.code !== 0) {
          reason = `${found.name} cannot pull the base image ${image}: ${errorLine(`${pulled.out}\n${pulled.err}`)}`;
          break;
        }
      }
    }
    if (reason !== undefined || typeof found === "string") {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    const built = await found.build(tag);
    expect(built.code, `${found.name} build:\n${`${built.out}\n${built.err}`.slice(-4000)}`).to.equal(0);
    builder = found;
  });

  after(async () => {
    if (builder) await builder.remove(tag);
  });

  it("runs as a numeric non-root user, with the CLI as entrypoint", async () => {
    const config = await builder!.config(tag);
    expect(config.User).to.match(/^[1-9]\d*(:\d+)?$/);
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { bin: { vrsky: string } };
    expect(config.Entrypoint.at(-1)).to.equal(`/app/${pkg.bin.vrsky}`);
  });

  it("`vrsky --version` prints the package's version; git and nats-server are there", async () => {
    const version = await builder!.runImage(tag, ["--version"]);
    expect(version.code, `${version.out}\n${version.err}`).to.equal(0);
    expect(version.out).to.equal(packageVersion());
    const nats = await builder!.exec(tag, ["nats-server", "--version"]);
    expect(nats.out, nats.out).to.match(/^nats-server: v2\.\d+/);
    const git = await builder!.exec(tag, ["git", "--version"]);
    expect(git.out).to.match(/^git version /);
  });

  it("`vrsky init` makes a key folder in the image's working directory, as its user", async () => {
    const r = await builder!.runImage(tag, ["init", "--keys", "keys"]);
    expect(r.code, `${r.out}\n${r.err}`).to.equal(0);
    expect(r.out).to.match(/Created keys in \/var\/lib\/vrsky\/keys/);
  });
});
