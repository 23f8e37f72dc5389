import { expect } from "chai";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import {
  appendFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  realpath,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { integrationStreams } from "../../engine/contract/dataplane.js";
import { ensureIntegrationStreams } from "../../engine/dataplane/streams.js";
import { readIngest, type StoredMessage } from "../../engine/dataplane/wire.js";
import { isVrskyError } from "../../engine/errors/errors.js";
import { fileSink } from "../../engine/worker/flow/sinks/file.js";
import { FileSource, fileSource, type FileSourceConfig } from "../../engine/worker/flow/sources/file.js";
import { globToRegExp } from "../../engine/worker/flow/sources/file-format.js";
import type { SinkRuntime, SourceEnv, SourceRuntime } from "../../engine/worker/flow/types.js";
import { delivery, jsonMessage, testEnv } from "../helpers/connector-env.js";
import { integrationResource } from "../helpers/manifests.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

const TENANT = "acme";

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return isVrskyError(e) ? `${e.code}: ${e.message}` : `not a VrskyError: ${String(e)}`;
  }
  return "started";
}

describe("file connectors against real files and NATS", function () {
  this.timeout(60_000);
  const fx = useNats({ resetBuckets: false });
  let jsm: JetStreamManager;
  let base: string;
  let root: string;
  let counter = 0;
  const running: SourceRuntime[] = [];
  const sinks: SinkRuntime[] = [];

  before(async () => {
    jsm = await jetstreamManager(fx.nc);
  });
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), "vrsky-files-")));
    root = join(base, TENANT);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await Promise.all(sinks.splice(0).map((s) => s.close()));
    await rm(base, { recursive: true, force: true });
  });

  async function integration(): Promise<string> {
    const name = `files${++counter}`;
    await ensureIntegrationStreams(fx.nc, integrationResource(TENANT, name, {}));
    return name;
  }

  async function stored(name: string): Promise<StoredMessage[]> {
    const stream = integrationStreams(TENANT, name).ingest;
    const { state } = await jsm.streams.info(stream);
    const out: StoredMessage[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m) out.push(readIngest(m.header, m.data));
    }
    return out;
  }

  function env(name: string, o: { replica?: number; replicas?: number; connected?: boolean } = {}) {
    const e = testEnv({
      tenant: TENANT,
      integration: name,
      replica: o.replica ?? 0,
      ...(o.connected === false ? {} : { connection: fx.nc }),
    });
    return Object.assign(e, { fileRoot: root, replicas: o.replicas ?? 1 });
  }

  /** A source polled by hand (no timer): each poll() is one poll. */
  async function manual(name: string, c: Partial<FileSourceConfig> = {}, e = env(name)): Promise<FileSource> {
    const directory = join(root, "in");
    await mkdir(directory, { recursive: true });
    const config: FileSourceConfig = {
      directory,
      pattern: globToRegExp("*"),
      pollMs: 3_600_000,
      format: "text",
      afterRead: "move",
      moveTo: join(root, "done"),
      ...c,
    };
    if (config.moveTo) await mkdir(config.moveTo, { recursive: true });
    const src = new FileSource(config, e);
    await src.prepare();
    running.push(src);
    return src;
  }

  describe("source", () => {
    it("reads a stable text file, one message per line, then moves it; an unstable file waits", async () => {
      const name = await integration();
      const src = await manual(name);
      const file = join(root, "in", "a.txt");
      await writeFile(file, "one\n");
      await src.poll(); // seen once
      await appendFile(file, "\ntwo\n"); // still being written
      await src.poll(); // changed since: not stable
      expect(await stored(name), "nothing read while the file changes").to.have.length(0);
      expect(await readdir(join(root, "in"))).to.include("a.txt");
      await src.poll(); // unchanged across two polls: read
      const msgs = await stored(name);
      expect(msgs.map((m) => [new TextDecoder().decode(m.body), m.attributes.line, m.contentType])).to.deep.equal([
        ["one", 1, "text/plain"],
        ["two", 3, "text/plain"],
      ]);
      expect(msgs[0]!.attributes).to.include({ source: "file", file: "a.txt" });
      expect(msgs[0]!.id).to.match(/^f-[0-9a-f]{24}-1$/);
      expect(await readdir(join(root, "in"))).to.deep.equal([".vrsky"]);
      expect(await readFile(join(root, "done", "a.txt"), "utf8")).to.equal("one\n\ntwo\n");
      expect(src.read).to.deep.equal(["a.txt"]);
    });

    it("a file renamed in after its last write (modification time a pollInterval old) is read at the first poll", async () => {
      const name = await integration();
      const src = await manual(name);
      const written = join(root, "elsewhere.txt");
      await writeFile(written, "done\n");
      const old = new Date(Date.now() - 2 * 3_600_000); // older than the source's pollInterval (1 h)
      await utimes(written, old, old);
      await rename(written, join(root, "in", "renamed.txt"));
      await writeFile(join(root, "in", "fresh.txt"), "still being written\n");
      await src.poll();
      expect(src.read, "the renamed file at once, the fresh one not yet").to.deep.equal(["renamed.txt"]);
      expect((await stored(name)).map((m) => new TextDecoder().decode(m.body))).to.deep.equal(["done"]);
      await src.poll();
      expect(src.read).to.deep.equal(["renamed.txt", "fresh.txt"]);
    });

    it("csv: chunks with the header each, json/xml/binary: the whole file as one message; pattern filters", async () => {
      const name = await integration();
      const src = await manual(name, { format: "csv", pattern: globToRegExp("*.csv") });
      const rows = Array.from({ length: 1200 }, (_, i) => `${i},n${i}`);
      await writeFile(join(root, "in", "big.csv"), `id,name\n${rows.join("\n")}\n`);
      await writeFile(join(root, "in", "skip.txt"), "not csv");
      await src.poll();
      await src.poll();
      const msgs = await stored(name);
      expect(msgs.map((m) => [m.contentType, m.attributes.lineOffset])).to.deep.equal([
        ["text/csv", 0],
        ["text/csv", 1000],
      ]);
      const second = new TextDecoder().decode(msgs[1]!.body).split("\n");
      expect(second.slice(0, 2)).to.deep.equal(["id,name", "1000,n1000"]);
      expect(await readdir(join(root, "in"))).to.include("skip.txt");

      const bin = await integration();
      const b = await manual(bin, { format: "binary" });
      await writeFile(join(root, "in", "blob"), Buffer.from([0, 255, 1]));
      await b.poll();
      await b.poll();
      const [blob] = (await stored(bin)).filter((m) => m.attributes.file === "blob");
      expect(blob).to.deep.include({ contentType: "application/octet-stream" });
      expect(Buffer.from(new TextDecoder().decode(blob!.body), "base64")).to.deep.equal(Buffer.from([0, 255, 1]));
    });

    it("afterRead delete removes the file; keep leaves it, reads it once, and again once it changed", async () => {
      const name = await integration();
      const del = await manual(name, { afterRead: "delete" });
      await writeFile(join(root, "in", "d.txt"), "x\n");
      await del.poll();
      await del.poll();
      expect(await readdir(join(root, "in"))).to.deep.equal([".vrsky"]);
      await del.stop();

      const kept = await integration();
      const keep = await manual(kept, { afterRead: "keep" });
      await writeFile(join(root, "in", "k.txt"), "a\n");
      for (let i = 0; i < 4; i++) await keep.poll();
      expect(keep.read).to.deep.equal(["k.txt"]);
      expect(await readFile(join(root, "in", "k.txt"), "utf8")).to.equal("a\n");
      const record = JSON.parse(await readFile(join(root, "in", ".vrsky", "read", "k.txt"), "utf8")) as object;
      expect(record).to.include.keys("size", "mtimeMs", "id", "readAt");
      await appendFile(join(root, "in", "k.txt"), "b\n");
      for (let i = 0; i < 3; i++) await keep.poll();
      expect(keep.read).to.deep.equal(["k.txt", "k.txt"]);
      expect((await stored(kept)).map((m) => new TextDecoder().decode(m.body))).to.deep.equal(["a", "a", "b"]);
    });

    it("nothing is moved before every message is stored; a file left claimed is read again (at least once)", async () => {
      const name = await integration();
      const e = env(name, { connected: false });
      const src = await manual(name, {}, e);
      await writeFile(join(root, "in", "c.txt"), "1\n2\n");
      await src.poll();
      const reading = src.poll();
      await until(() => e.logs.some((l) => l.event === "file-ingest-retry"), 10_000, "a retry of the ingest");
      await src.stop();
      await reading;
      expect(await readdir(join(root, "in", ".vrsky", "claims", "0")), "still claimed").to.deep.equal(["c.txt"]);
      expect(await readdir(join(root, "done"))).to.deep.equal([]);
      // A new run of the replica (a restart) takes the claimed file first.
      const again = await manual(name);
      await again.poll();
      expect((await stored(name)).map((m) => new TextDecoder().decode(m.body))).to.deep.equal(["1", "2"]);
      expect(await readdir(join(root, "done"))).to.deep.equal(["c.txt"]);
    });

    it("a whole-file format sets a file over 64 MiB aside, unread, and goes on with the others", async () => {
      const name = await integration();
      const e = env(name);
      const src = await manual(name, { format: "json" }, e);
      await writeFile(join(root, "in", "huge.json"), "");
      await truncate(join(root, "in", "huge.json"), 65 * 1024 * 1024); // sparse: no 65 MiB written
      await writeFile(join(root, "in", "small.json"), '{"ok":true}');
      await src.poll();
      await src.poll();
      expect(await readdir(join(root, "in", ".vrsky", "failed"))).to.deep.equal(["huge.json"]);
      expect(e.logs.find((l) => l.event === "file-set-aside")?.fields?.error).to.match(/more than 67108864 bytes/);
      expect((await stored(name)).map((m) => m.attributes.file)).to.deep.equal(["small.json"]);
      await src.poll();
      expect(await readdir(join(root, "in", ".vrsky", "claims", "0"))).to.deep.equal([]);
    });

    it("two replicas polling one directory read each file once", async () => {
      const name = await integration();
      await mkdir(join(root, "in"), { recursive: true });
      const config = { directory: "in", pollInterval: "20ms", afterRead: "move", moveTo: "done", format: "text" };
      const a = (await fileSource(config, env(name, { replica: 0, replicas: 2 }))) as FileSource;
      const b = (await fileSource(config, env(name, { replica: 1, replicas: 2 }))) as FileSource;
      running.push(a, b);
      const names = Array.from({ length: 30 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`);
      for (const n of names) await writeFile(join(root, "in", n), `${n}\n`);
      await until(
        () => a.read.length + b.read.length >= names.length,
        20_000,
        () => `read ${a.read.length + b.read.length}`,
      );
      expect([...a.read, ...b.read].sort()).to.deep.equal(names);
      expect((await readdir(join(root, "done"))).sort()).to.deep.equal(names);
      expect(await stored(name)).to.have.length(names.length);
    });

    it("refuses paths outside the tenant's root, links out, and starting without a root", async () => {
      const name = await integration();
      const e = env(name);
      const start = (config: Record<string, unknown>, x: SourceEnv = e) =>
        refusal(fileSource({ afterRead: "delete", ...config }, x));
      expect(await start({ directory: "../globex/in" })).to.match(
        /^VRS_FILE_PATH_OUTSIDE_ROOT: config\.directory: .*'\.\.'/,
      );
      expect(await start({ directory: join(base, "globex") })).to.match(/config\.directory: .* not under/);
      expect(await start({ directory: "in", afterRead: "move", moveTo: "/etc" })).to.match(
        /^VRS_FILE_PATH_OUTSIDE_ROOT: config\.moveTo/,
      );
      await mkdir(join(base, "outside"));
      await mkdir(root, { recursive: true });
      await symlink(join(base, "outside"), join(root, "link"));
      expect(await start({ directory: "link" })).to.match(/^VRS_FILE_PATH_OUTSIDE_ROOT: .*a link on the way/);
      const rootless = testEnv({ tenant: TENANT, integration: name });
      expect(await start({ directory: "in" }, rootless)).to.match(/^VRS_FILE_ROOT_MISSING: config\.directory/);
    });
  });

  describe("sink", () => {
    async function sink(config: Record<string, unknown>): Promise<SinkRuntime> {
      const e = Object.assign(testEnv({ tenant: TENANT }), { fileRoot: root });
      const s = await fileSink({ filename: "{{ attributes.id }}.json", format: "json", ...config }, e);
      sinks.push(s);
      return s;
    }

    it("writes each message atomically under its rendered name; a redelivery replaces it; no temporary file stays", async () => {
      const s = await sink({ directory: "out", filename: "order-{{ body.id }}.json" });
      expect(await s.send(delivery(jsonMessage("m-1", { id: 7, total: 1.5 })))).to.deep.equal({ ok: true });
      expect(await s.send(delivery(jsonMessage("m-1", { id: 7, total: 2 })))).to.deep.equal({ ok: true });
      expect(await readdir(join(root, "out"))).to.deep.equal(["order-7.json"]);
      expect(JSON.parse(await readFile(join(root, "out", "order-7.json"), "utf8"))).to.deep.equal({ id: 7, total: 2 });
    });

    it("format raw writes the text itself; json writes a text body as a JSON string", async () => {
      const raw = await sink({ directory: "raw", filename: "{{ attributes.id }}.txt", format: "raw" });
      await raw.send(delivery(jsonMessage("m-2", "plain <text>", "text/plain")));
      expect(await readFile(join(root, "raw", "m-2.txt"), "utf8")).to.equal("plain <text>");
      const json = await sink({ directory: "json" });
      await json.send(delivery(jsonMessage("m-3", "plain", "text/plain")));
      expect(await readFile(join(root, "json", "m-3.json"), "utf8")).to.equal('"plain"');
    });

    it("a name that leaves the directory is rejected (dead-lettered), nothing is written outside", async () => {
      const s = await sink({ directory: "out", filename: "{{ body.name }}" });
      for (const bad of ["../escape", "/etc/passwd", ".hidden", ""]) {
        const o = await s.send(delivery(jsonMessage("m", { name: bad })));
        expect(o.ok, bad).to.equal(false);
        expect(!o.ok && o.code, bad).to.equal("VRS_SINK_REJECTED");
      }
      expect(await readdir(join(root, "out"))).to.deep.equal([]);
      expect(await readdir(root)).to.deep.equal(["out"]);
    });

    it("refuses a directory outside the root and starting without a root", async () => {
      expect(await refusal(sink({ directory: "../x" }))).to.match(/^VRS_FILE_PATH_OUTSIDE_ROOT: config\.directory/);
      const rootless = testEnv({ tenant: TENANT });
      expect(await refusal(fileSink({ directory: "out" }, rootless))).to.match(/^VRS_FILE_ROOT_MISSING/);
    });
  });
});
