import { expect } from "chai";
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HEADERS, integrationStreams, type DeadLetterContext } from "../../engine/contract/dataplane.js";
import { readIngest } from "../../engine/dataplane/wire.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { envelope, failTimes, FlowFixture, streamMessages, TENANT, TestSinks } from "../helpers/flow.js";
import { useNats } from "../helpers/nats.js";
import { until } from "../helpers/until.js";

describe("flow runner with files: a CSV file dropped in a folder reaches a file sink, bad rows dead-lettered", function () {
  this.timeout(60_000);
  const fx = useNats({ resetBuckets: false });
  const flow = new FlowFixture(fx);
  let base: string;
  before(async () => {
    await flow.start();
    base = await realpath(await mkdtemp(join(tmpdir(), "vrsky-flow-files-")));
  });
  after(() => rm(base, { recursive: true, force: true }));

  it("rows to files, the bad row to the dead letters with its line, the file moved once all is stored", async () => {
    const root = join(base, TENANT);
    await mkdir(join(root, "inbox"), { recursive: true });
    const r = await flow.integration("csv-files", {
      source: {
        type: "file",
        config: {
          directory: "inbox",
          pattern: "*.csv",
          pollInterval: "50ms",
          format: "csv",
          afterRead: "move",
          moveTo: "done",
        },
      },
      steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows", delimiter: "," } }],
      sinks: [
        { name: "archive", type: "file", config: { directory: "out", filename: "{{ body.id }}.json", format: "json" } },
      ],
    });
    const run = await flow.run(r, { fileRoot: base });
    await writeFile(join(root, "inbox", "orders.csv"), "id,total\n1,10\n2\n3,30\n");
    const out = join(root, "out");
    await until(
      async () => (await readdir(out).catch(() => [])).filter((n) => n.endsWith(".json")).length === 2,
      20_000,
      "two rows written",
    );
    expect((await readdir(out)).sort()).to.deep.equal(["1.json", "3.json"]);
    expect(JSON.parse(await readFile(join(out, "3.json"), "utf8"))).to.deep.equal({ id: "3", total: "30" });
    const s = integrationStreams(TENANT, "csv-files");
    const [dl] = await until(
      async () => {
        const m = await streamMessages(fx.nc, s.deadLetter);
        return m.length > 0 && m;
      },
      10_000,
      "a dead letter for the bad row",
    );
    const ctx = JSON.parse(dl!.header.get(HEADERS.deadLetter)) as DeadLetterContext;
    expect(ctx).to.deep.include({ code: "VRS_MSG_CSV_ROW", at: { role: "step", index: 0, name: "rows", type: "csv" } });
    expect(ctx.error).to.match(/^line 3: /);
    expect(ctx.messageId).to.match(/^f-[0-9a-f]{24}-0\.1$/);
    // The dead letter is the whole message as stored, under the message's id: a replay runs it all again.
    const original = readIngest(dl!.header, dl!.data);
    expect(original.id).to.equal(ctx.messageId.replace(/\.1$/, ""));
    expect(new TextDecoder().decode(dl!.data)).to.equal("id,total\n1,10\n2\n3,30\n");
    expect(dl!.header.get(HEADERS.id)).to.equal(`${original.id}~rejected-${ctx.messageId}`);
    await until(async () => (await readdir(join(root, "done"))).includes("orders.csv"), 10_000, "the file moved");
    expect(await readdir(join(root, "inbox"))).to.deep.equal([".vrsky"]);
    expect(run.failures).to.deep.equal([]);
    await new Promise((res) => setTimeout(res, 300));
    expect(await streamMessages(fx.nc, s.deadLetter), "one dead letter").to.have.length(1);
  });

  it("a sink retry redelivers the message: the rows go on, the bad row is dead-lettered once", async () => {
    const r = await flow.integration("csv-retry", {
      steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows", delimiter: "," } }],
      retry: { maxAttempts: 5, initialBackoff: "100ms", maxBackoff: "1s", multiplier: 2 },
    });
    const sinks = new TestSinks().on("out.csv-retry", failTimes(1));
    await flow.run(r, sinks.options({ random: () => 0 }));
    await flow.writer(r).write({
      ...envelope("batch-1", null),
      contentType: "text/csv",
      body: new TextEncoder().encode("a,b\n1,2\nbad\n3,4\n"),
    });
    await sinks.until(() => new Set(sinks.calls.slice(1).map((c) => c.id)).size === 2, 10_000);
    expect(sinks.calls.map((c) => c.id)).to.deep.equal(["batch-1.0", "batch-1.0", "batch-1.2"]);
    const s = integrationStreams(TENANT, "csv-retry");
    await until(async () => (await streamMessages(fx.nc, s.deadLetter)).length > 0, 10_000, "a dead letter");
    await until(
      async () => (await jetstreamManager(fx.nc).then((j) => j.streams.info(s.ingest))).state.messages === 0,
      10_000,
      "the message acknowledged",
    );
    const dls = await streamMessages(fx.nc, s.deadLetter);
    expect(dls.map((m) => (JSON.parse(m.header.get(HEADERS.deadLetter)) as DeadLetterContext).messageId)).to.deep.equal(
      ["batch-1.1"],
    );
  });

  it("a file source without a root for the tenant fails the start: VRS_FILE_ROOT_MISSING", async () => {
    const r = await flow.integration("rootless", {
      source: { type: "file", config: { directory: "inbox", afterRead: "delete", pollInterval: "1s", format: "text" } },
    });
    let error: unknown;
    await flow.run(r, {}).catch((e: unknown) => (error = e));
    expect(error).to.have.property("code", "VRS_FILE_ROOT_MISSING");
  });
});
