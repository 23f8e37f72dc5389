import { expect } from "chai";
import { DataPlane, flowYaml, httpSinks, webhookSource } from "../helpers/e2e-dataplane.js";
import { RecordingReceiver, WebhookLoad } from "../helpers/e2e-traffic.js";
import { tenantYaml } from "../helpers/manifests.js";
import { ACK_WAIT_MS } from "../../engine/contract/dataplane.js";
import { useNats } from "../helpers/nats.js";

/*
 * A worker that fences itself (its heartbeats went unacknowledged: here it is frozen with SIGSTOP, as a starved or
 * paused process would be) stops its replicas at once. The messages they held must go back to the stream at once
 * (nak), so that they are sent again within seconds, not after the consumer's ack wait (ACK_WAIT_MS): the tenant
 * connection may close only after the naks left on it.
 */

const T = "acme";
const NAME = "fenced";
const PATH = `/${NAME}`;
/** The receiver holds every request this long: the messages are in flight when the worker freezes. */
const HOLD_MS = 8_000;
/** Heartbeat and expiry: the worker fences after 4 s without an acknowledged heartbeat (expiry − expiry/3). */
const HEARTBEAT = "250ms";
const EXPIRY = "6s";
const FROZEN_MS = 4_500;

describe("data plane: a fenced worker hands its messages back at once (processes, operator mode)", function () {
  this.timeout(90_000);
  const fx = useNats({ operator: true, repo: "file", resetBuckets: false });
  const receiver = new RecordingReceiver();
  let dp: DataPlane;

  before(async function () {
    this.timeout(60_000);
    await receiver.start();
    receiver.delay(PATH, HOLD_MS);
    fx.repo.write("tenants/acme.yaml", tenantYaml(T));
    fx.repo.write(
      `integrations/${T}/${NAME}.yaml`,
      flowYaml(T, NAME, {
        replicas: 1,
        source: webhookSource(PATH),
        sinks: httpSinks(receiver.url(PATH), { timeout: "10s" }),
      }),
    );
    const rev = fx.repo.commit("tenant and integration");
    dp = new DataPlane(fx, { keep: true });
    await dp.startReconciler(rev);
    await dp.startGateway();
  });

  after(() => receiver.stop());

  afterEach(function () {
    if (this.currentTest?.state === "failed") console.log(`      logs: ${dp.dumpLogs(this.currentTest.fullTitle())}`);
  });

  it("messages in flight when the worker fences are received again well before the ack wait", async () => {
    // The gateway was ready with the integration's route loaded (it was committed before the gateway started).
    const w = dp.startWorker("f1", { heartbeat: HEARTBEAT, expiry: EXPIRY });
    await dp.running([`${T}.${NAME}.0`]);

    const n = 20;
    const load = new WebhookLoad({ url: `${dp.gatewayUrl}/t/${T}/${NAME}`, count: n, rate: 200, id: (i) => `f-${i}` });
    await load.done;
    expect(load.failures, load.describeFailures()).to.deep.equal([]);
    await receiver.until(() => receiver.of(PATH).length >= n, 30_000, `${n} requests held by the receiver`);

    const pid = w.proc.child.pid!;
    process.kill(pid, "SIGSTOP");
    await new Promise((r) => setTimeout(r, FROZEN_MS)); // the freeze itself is the fault injected
    const resumedAt = performance.now();
    process.kill(pid, "SIGCONT");
    const fenced = await w.waitForLog((e) => e.event === "fenced", 15_000);
    expect(fenced.stopped).to.include(`${T}.${NAME}.0`);

    // Every held message was cut off by the fence (its first request never answered): each must come again. With
    // the naks lost they would come only after the ack wait, ACK_WAIT_MS after they were first sent (the frozen
    // process reported nothing in progress).
    const ids = [...load.accepted.keys()];
    const seen = () => {
      const count = new Map<string, number>();
      for (const h of receiver.of(PATH)) if (h.key) count.set(h.key, (count.get(h.key) ?? 0) + 1);
      return count;
    };
    await receiver.until(
      () => ids.every((id) => (seen().get(id) ?? 0) >= 2),
      15_000,
      () =>
        `every held message sent again; sent again so far ${ids.filter((id) => (seen().get(id) ?? 0) >= 2).length}/${n}`,
    );
    const againAfterMs = performance.now() - resumedAt;
    const arrivals = new Map<string, number[]>();
    for (const h of receiver.of(PATH)) if (h.key) arrivals.set(h.key, [...(arrivals.get(h.key) ?? []), h.at]);
    const gaps = ids.map((id) => arrivals.get(id)![1]! - arrivals.get(id)![0]!);
    console.log(
      `      figures: ${n} held at the fence, all sent again ${Math.round(againAfterMs)} ms after the resume, ` +
        `at most ${Math.round(Math.max(...gaps))} ms after their first delivery`,
    );
    expect(Math.max(...gaps), "sent again before the ack wait could have run out").to.be.below(ACK_WAIT_MS);
  });
});
