import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../engine/util/package-root.js";
import { waitForOutput } from "../helpers/e2e-dataplane.js";
import { sign } from "../helpers/e2e-traffic.js";
import { WebhookClient, type Answer } from "../helpers/gateway.js";
import { TestRepo } from "../helpers/git-repo.js";
import { VrskyProcess } from "../helpers/process.js";

/** Whether any process of the group `pgid` is still there. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("vrsky up runs the bundled examples end to end: a signed webhook reaches the stand-in receiver", function () {
  this.timeout(90_000);
  let repo: TestRepo;
  let data: string;
  let up: VrskyProcess | undefined;
  const client = new WebhookClient();

  beforeEach(() => {
    // A copy of this repository's own examples, committed in a repository of the test's.
    repo = new TestRepo("vrsky-up-examples-");
    for (const dir of ["tenants", "integrations"])
      cpSync(join(packageRoot(), dir), join(repo.dir, dir), { recursive: true });
    repo.commit("the bundled examples");
    data = mkdtempSync(join(tmpdir(), "vrsky-up-data-"));
  });

  afterEach(function () {
    // Whatever happened: nothing of the group (nats-servers included) outlives the test.
    if (up && groupAlive(up.child.pid!)) process.kill(-up.child.pid!, "SIGKILL");
    if (this.currentTest?.state === "failed" && up) console.log(`      up stderr (tail):\n${up.stderr.slice(-4000)}`);
    repo.cleanup();
    rmSync(data, { recursive: true, force: true });
  });

  after(() => client.close());

  /**
   * Posts as a webhook sender does: a 503 ("retry later", e.g. while the tenant's first connection is being made)
   * is retried with the same delivery id for up to 10 s.
   */
  async function sendAsASender(url: string, headers: Record<string, string>, body: string): Promise<Answer> {
    const deadline = Date.now() + 10_000;
    for (let wait = 100; ; wait = Math.min(1_000, wait * 2)) {
      const a = await client.send(url, { headers, body });
      if (a.status !== 503 || Date.now() > deadline) return a;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  it("signed order over 100 → stand-in receiver gets the mapped body; unsigned → 401; Ctrl-C ends everything with 0", async () => {
    up = new VrskyProcess(
      ["up", "--repo", repo.dir, "--data", data, "--gateway-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"],
      {
        ownGroup: true,
      },
    );
    await waitForOutput(up, /VRSky is running\.\n[\s\S]*\n {2}stop /, 60_000);
    const gateway = /webhooks +(http:\/\/127\.0\.0\.1:\d+)\/t\//.exec(up.stdout)?.[1];
    const secretFile = /secret +acme\/shop-webhook-signing: webhook signing secret in (\S+)/.exec(up.stdout)?.[1];
    expect(gateway, up.stdout).to.be.a("string");
    expect(secretFile, up.stdout).to.be.a("string");
    const secret = readFileSync(secretFile!);
    expect(secret.length, "a random demo secret").to.be.at.least(16);
    // The first run applied the examples (records, tenants' accounts and discovery entries, streams) ...
    const run = await up.waitForLog((e) => e.event === "run", 60_000);
    expect(run.outcome).to.equal("Applied");
    // ... and the gateway has seen the integration's route.
    await up.waitForLog(
      (e) =>
        (e.event === "routes-loaded" && Number(e.routes) >= 1) ||
        (e.event === "route-added" && e.integration === "orders-to-slack"),
      60_000,
    );

    const url = `${gateway}/t/acme/orders`;
    const body = JSON.stringify({ order: { id: 1042, total: 150.5, email: "ann@example.com" } });
    const unsigned = await client.send(url, {
      headers: { "content-type": "application/json", "idempotency-key": "unsigned-1" },
      body,
    });
    expect(unsigned.status, unsigned.text).to.equal(401);
    const wrong = await client.send(url, {
      headers: { "content-type": "application/json", "x-signature-256": sign(body, "not-the-secret") },
      body,
    });
    expect(wrong.status, wrong.text).to.equal(401);
    const signed = await sendAsASender(
      url,
      {
        "content-type": "application/json",
        "idempotency-key": "order-1042",
        "x-signature-256": sign(body, secret),
      },
      body,
    );
    expect(signed.status, signed.text).to.equal(202);
    expect(signed.json()).to.deep.equal({ id: "order-1042", duplicate: false });

    const line = await waitForOutput(up, /^stand-in receiver: POST \/acme\/orders-to-slack .*$/m, 30_000);
    expect(line[0]).to.equal(
      'stand-in receiver: POST /acme/orders-to-slack (Idempotency-Key order-1042): {"id":1042,"total":150.5,"text":"New order 1042"}',
    );
    // A small order is filtered: nothing more reaches the receiver (checked after a second big one arrives).
    const small = JSON.stringify({ order: { id: 7, total: 20 } });
    const big = JSON.stringify({ order: { id: 1043, total: 999.99 } });
    for (const [id, b] of [
      ["order-7", small],
      ["order-1043", big],
    ] as const) {
      const a = await sendAsASender(
        url,
        { "content-type": "application/json", "idempotency-key": id, "x-signature-256": sign(b, secret) },
        b,
      );
      expect(a.status, a.text).to.equal(202);
    }
    await waitForOutput(up, /Idempotency-Key order-1043/, 30_000);
    const received = up.stdout.split("\n").filter((l) => l.startsWith("stand-in receiver:"));
    expect(received.map((l) => /Idempotency-Key ([\w-]+)/.exec(l)?.[1])).to.deep.equal(["order-1042", "order-1043"]);

    const pgid = up.child.pid!;
    expect(await up.interrupt()).to.equal(0);
    const events = up.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { event: string }).event);
    expect(events).to.include.members(["drained", "deregistered"]);
    expect(groupAlive(pgid), "no process of vrsky up is left (nats-servers included)").to.equal(false);
  });
});
