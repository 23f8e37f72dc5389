import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../../engine/util/package-root.js";
import {
  copyParts,
  dockerignorePatterns,
  ignored,
  readInstructions,
  stages,
  type Stage,
} from "../../helpers/dockerfile.js";
import { kustomize, workloads } from "../../helpers/kustomize.js";

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { bin: Record<string, string> };

/** Words that name a secret: none may be copied, or set in ENV or ARG. */
const SECRET_PATH = /(\.nk|\.creds|\.agekey|master\.key|\.pem|id_rsa|id_ed25519|\.env|\.npmrc|(^|\/)keys?(\/|$))/;
const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|CREDENTIAL|PRIVATE|API_KEY|ADMIN_KEY)/i;

describe("deploy/Dockerfile: multi-stage, non-root, the CLI as entrypoint, nothing secret copied", () => {
  const all = stages();
  const runtime = all[all.length - 1]!;
  const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);

  it("builds in one stage (npm ci, npm run build) and runs from another with production dependencies only", () => {
    expect(all.length).to.be.at.least(2);
    const build = all.find((s) => ops(s, "RUN").some((r) => /\bnpm run build\b/.test(r.args)));
    expect(build, "a stage runs npm run build").to.not.equal(undefined);
    expect(ops(build!, "RUN").some((r) => /\bnpm ci\b/.test(r.args))).to.equal(true);
    expect(build).to.not.equal(runtime);
    // The runtime's node_modules come from a stage that installed with --omit=dev, never from the build stage.
    const modules = ops(runtime, "COPY")
      .map(copyParts)
      .filter((c) => c.sources.some((s) => s.includes("node_modules")));
    expect(modules).to.have.length(1);
    const deps = all.find((s) => s.name === modules[0]!.from)!;
    expect(
      ops(deps, "RUN").some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)),
      `stage ${deps.name}`,
    ).to.equal(true);
    // dist/ only from the build stage.
    const dist = ops(runtime, "COPY")
      .map(copyParts)
      .filter((c) => c.sources.some((s) => s.includes("dist")));
    expect(dist.map((c) => c.from)).to.deep.equal([build!.name]);
  });

  it("the runtime stage has what vrsky reads at run time: package.json, schemas/, the compiled CLI, git", () => {
    const sources = ops(runtime, "COPY").flatMap((i) => copyParts(i).sources.map((s) => s.replace(/^\/src\//, "")));
    for (const needed of ["package.json", "schemas", "node_modules"]) expect(sources, needed).to.include(needed);
    const main = pkg.bin.vrsky!;
    expect(
      sources.some((s) => main.startsWith(`${s}/`)),
      `${main} is copied`,
    ).to.equal(true);
    expect(
      ops(runtime, "RUN").some((r) => /apt-get install\b.*\bgit\b/.test(r.args)),
      "git",
    ).to.equal(true);
  });

  it("runs as a numeric non-root user, set last", () => {
    const users = readInstructions().filter((i) => i.op === "USER");
    const last = users[users.length - 1];
    expect(last, "a USER instruction").to.not.equal(undefined);
    expect(ops(runtime, "USER").at(-1)).to.deep.equal(last);
    const [uid, gid] = last!.args.split(":");
    expect(uid, "numeric UID, so that runAsNonRoot can check it").to.match(/^\d+$/);
    expect(Number(uid)).to.be.greaterThan(0);
    if (gid !== undefined) expect(Number(gid)).to.be.greaterThan(0);
    // The Kubernetes pods run the image as that user.
    return kustomize("base").then((objects) => {
      for (const { spec } of workloads(objects))
        if (spec.template.spec.containers.some((c) => c.image.startsWith("vrsky")))
          expect(spec.template.spec.securityContext?.runAsUser).to.equal(Number(uid));
    });
  });

  it("the entrypoint is the vrsky CLI (exec form), and the ports it exposes are the ones the manifests use", async () => {
    const entry = ops(runtime, "ENTRYPOINT");
    expect(entry).to.have.length(1);
    const argv = JSON.parse(entry[0]!.args) as string[];
    expect(argv.at(-1)).to.equal(`/app/${pkg.bin.vrsky}`);
    expect(argv).to.include("node");
    const exposed = ops(runtime, "EXPOSE").flatMap((e) => e.args.split(/\s+/).map(Number));
    const used = new Set<number>();
    for (const { spec } of workloads(await kustomize("base")))
      for (const c of spec.template.spec.containers)
        if (c.image.startsWith("vrsky")) for (const p of c.ports ?? []) used.add(p.containerPort);
    expect(exposed.sort()).to.deep.equal([...used].sort());
  });

  it("copies nothing secret and sets no secret in ENV or ARG; ADD is not used", () => {
    for (const ins of readInstructions()) {
      expect(ins.op, `line ${ins.line}`).to.not.equal("ADD");
      if (ins.op === "COPY") {
        for (const s of copyParts(ins).sources) expect(s, `line ${ins.line}`).to.not.match(SECRET_PATH);
      }
      if (ins.op === "ENV" || ins.op === "ARG") expect(ins.args, `line ${ins.line}`).to.not.match(SECRET_NAME);
    }
  });

  it("everything copied from the build context exists and is not left out by .dockerignore", () => {
    const patterns = dockerignorePatterns();
    for (const ins of readInstructions().filter((i) => i.op === "COPY")) {
      const c = copyParts(ins);
      if (c.from) continue;
      for (const s of c.sources) {
        expect(existsSync(join(root, s)), `line ${ins.line}: ${s} exists`).to.equal(true);
        expect(ignored(s, patterns), `line ${ins.line}: ${s} is in the build context`).to.equal(false);
      }
    }
  });
});

describe(".dockerignore: the build context leaves out git, dependencies, build output, local state and keys", () => {
  const patterns = dockerignorePatterns();

  for (const path of [".git", "node_modules", "dist", ".vrsky", "tenants/.vrsky", "dist/engine/cli/main.js"]) {
    it(`leaves out ${path}`, () => expect(ignored(path, patterns)).to.equal(true));
  }

  it("leaves out key files wherever they are", () => {
    for (const path of ["operator.nk", "keys/platform.creds", "a/b/secrets.agekey", "vrsky-keys/master.key"])
      expect(ignored(path, patterns), path).to.equal(true);
  });

  it("keeps what the build needs", () => {
    for (const path of ["package.json", "package-lock.json", "tsconfig.json", "engine/cli/main.ts", "schemas"])
      expect(ignored(path, patterns), path).to.equal(false);
  });
});
