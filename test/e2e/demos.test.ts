import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { SOURCES } from "../../engine/worker/flow/connectors.js";
import type { Demo1Result, Demo2Result, Demo3Result, Demo4Result } from "../../engine/demo/demos.js";
import { runDemos, type DemoOutcome } from "../../engine/demo/run.js";
import type { DemoSession } from "../../engine/demo/session.js";
import { packageRoot } from "../../engine/util/package-root.js";

/**
 * `npm run demo`'s runner end to end, as a user runs it: a private PostgreSQL, the stand-ins, `vrsky up` as a
 * child on a scratch copy of integrations/demo/, the four demos, then everything taken down.
 */
describe("the four demos run end to end (npm run demo)", function () {
  this.timeout(180_000);
  const lines: string[] = [];
  let outcomes: DemoOutcome[] = [];
  let session: DemoSession | undefined;
  const result = <T>(n: number) => outcomes.find((o) => o.demo === n)?.result as T;

  before(async function () {
    outcomes = await runDemos({ say: (l) => lines.push(l), onSession: (s) => (session = s) });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(lines.join("\n"));
  });

  it("every demo passes (demo 2 only once the file source has a runtime) and nothing is left behind", () => {
    expect(outcomes.map((o) => `${o.demo} ${o.status}${o.error ? `: ${o.error}` : ""}`)).to.deep.equal([
      "1 passed",
      `2 ${"file" in SOURCES ? "passed" : "skipped"}`,
      "3 passed",
      "4 passed",
    ]);
    expect(existsSync(session!.dir), "the working folder is removed").to.equal(false);
  });

  it("1: signed GitHub push and pull_request webhooks become Slack messages; an unsigned one is refused", () => {
    const r = result<Demo1Result>(1);
    expect(r.unsigned).to.equal(401);
    expect(r.slack).to.deep.equal([
      "[octo-org/shop] octocat pushed 2 commit(s) to refs/heads/main: Fix the checkout total",
      "[octo-org/shop] pull request #42 opened by hubot: Add gift cards https://github.com/octo-org/shop/pull/42",
    ]);
  });

  it("2: the CSV rows are upserted into products, the bad row is dead-lettered with its line", () => {
    const r = result<Demo2Result>(2);
    expect(r.rows.map((x) => `${String(x.sku)} ${String(x.price)} ${String(x.stock)}`)).to.deep.equal([
      "A-100 12.50 40",
      "A-200 18.00 15",
      "A-400 31.00 8",
    ]);
    expect(r.dead).to.have.length(1);
    expect(r.dead[0]!.code).to.equal("VRS_MSG_CSV_ROW");
    expect(r.dead[0]!.error).to.match(/^line 4: /);
  });

  it("3: a row inserted in PostgreSQL reaches the API after two 503s; the update follows", () => {
    const r = result<Demo3Result>(3);
    expect(r.attempts.map((a) => a.status)).to.deep.equal([503, 503, 200, 200]);
    const [insert, update] = [r.attempts[2]!, r.attempts[3]!].map((a) => JSON.parse(a.body) as Record<string, unknown>);
    expect(insert).to.deep.include({
      event: "customer.insert",
      customer: { id: 1, name: "Ada Lovelace", email: "ada@example.com" },
    });
    expect(update).to.deep.include({
      event: "customer.update",
      customer: { id: 1, name: "Ada Lovelace", email: "ada@lovelace.example" },
    });
    expect(new Set(r.attempts.slice(0, 3).map((a) => a.headers["idempotency-key"])).size, "one message").to.equal(1);
  });

  it("4: a big order is inserted once while Slack fails twice; a small one goes to the table only", () => {
    const r = result<Demo4Result>(4);
    expect(r.slackAttempts.map((a) => a.status)).to.deep.equal([503, 503, 200]);
    expect(r.rows.map((x) => `${String(x.order_id)} ${String(x.total)}`)).to.deep.equal([
      "A-1001 149.90",
      "A-1002 12.50",
    ]);
  });

  it("Ctrl-C once vrsky up runs stops everything, removes the working folder and exits 130", async () => {
    const child = spawn(process.execPath, [join(packageRoot(), "dist/engine/demo/main.js")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString("utf8");
        if (/vrsky up {4}running/.test(out)) resolve();
      });
      void exited.then(() => reject(new Error(`the demo ended before vrsky up ran:\n${out}`)));
    });
    child.kill("SIGINT");
    expect(await exited, out).to.equal(130);
    const dir = /working folder (\S+)/.exec(out)![1]!;
    expect(existsSync(dir), "the working folder is removed").to.equal(false);
    // Nothing listens any more: not vrsky up's nats-server, not the private PostgreSQL.
    const nats = Number(/NATS nats:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    const pg = Number(/PostgreSQL {2}127\.0\.0\.1:(\d+)/.exec(out)![1]);
    for (const port of [nats, pg]) expect(await refused(port), `port ${port} is closed`).to.equal(true);
  });
});

/** Whether a TCP connection to 127.0.0.1:port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}
