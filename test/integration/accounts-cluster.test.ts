import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { tenantAccountJwt, tenantAccountPublicKey, userCreds } from "../../engine/accounts/claims.js";
import { initKeys, loadKeys, type VrskyKeys } from "../../engine/accounts/keys.js";
import { startOperatorServer } from "../../engine/accounts/local.js";
import { ResolverClient } from "../../engine/accounts/resolver.js";
import type { LocalNatsServer } from "../../engine/nats/local-server.js";
import { closedWithin, tenant } from "../helpers/operator.js";
import { until } from "../helpers/until.js";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("accounts: a 3-server cluster answers every resolver request from each server", function () {
  this.timeout(60_000);
  const base = mkdtempSync(join(tmpdir(), "vrsky-accounts-cluster-"));
  let keys: VrskyKeys;
  const servers: LocalNatsServer[] = [];
  const conns: NatsConnection[] = [];
  let resolver: ResolverClient;

  const user = async (i: number, t: string) => {
    const creds = userCreds(keys, t, 0, { name: `${t}-${i}` }).creds;
    const nc = await connect({
      servers: servers[i]!.url,
      reconnect: false,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    });
    conns.push(nc);
    return nc;
  };

  before(async () => {
    initKeys(join(base, "keys"));
    keys = loadKeys(join(base, "keys"));
    const ports = [await freePort(), await freePort(), await freePort()];
    const routes = ports.map((p) => `nats-route://127.0.0.1:${p}`).join(", ");
    for (let i = 0; i < 3; i++) {
      const cluster = `cluster {\n  name: vrsky-accounts\n  listen: "127.0.0.1:${ports[i]}"\n  routes: [${routes}]\n}\n`;
      servers.push(
        await startOperatorServer(keys, { dir: join(base, `n${i}`), serverName: `n${i}`, extraConfig: cluster }),
      );
    }
    resolver = await ResolverClient.connect(keys, servers[0]!.url, { timeoutMs: 1500 });
    // routes form within a second or two: ask until all three servers answer (bounded)
    await until(async () => (await resolver.servers(true)) >= 3, 20_000, "the 3 servers did not form a cluster");
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await resolver?.close().catch(() => undefined);
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(base, { recursive: true, force: true });
  });

  it("a push is acknowledged by all 3 servers; each holds the JWT; users on any server share the account", async () => {
    const jwt = tenantAccountJwt(keys, tenant("acme"));
    const r = await resolver.push(jwt);
    expect(r).to.include({ ok: true, acks: 3, servers: 3 });
    expect(r.replies.map((x) => x.server).sort()).to.deep.equal(["n0", "n1", "n2"]);
    const viaN2 = await ResolverClient.connect(keys, servers[2]!.url);
    try {
      expect(await viaN2.lookupAll(tenantAccountPublicKey(keys, tenant("acme")))).to.deep.equal([jwt, jwt, jwt]);
    } finally {
      await viaN2.close();
    }
    await resolver.push(tenantAccountJwt(keys, tenant("globex")));
    const a1 = await user(1, "acme");
    const a2 = await user(2, "acme");
    const g0 = await user(0, "globex");
    const seenByGlobex: string[] = [];
    const gsub = g0.subscribe(">", { callback: (_e, m) => void seenByGlobex.push(m.subject) });
    const sub = a1.subscribe("orders.>");
    await a1.flush();
    await g0.flush();
    // interest crosses routes asynchronously: publish until acme's subscriber on n1 sees acme's message from n2
    let got = "";
    const recv = (async () => {
      for await (const m of sub) {
        got = m.string();
        break;
      }
    })();
    for (let i = 0; i < 200 && !got; i++) {
      a2.publish("orders.new", "from n2");
      await a2.flush();
      await Promise.race([recv, new Promise((r) => setTimeout(r, 25))]);
    }
    expect(got).to.equal("from n2");
    // globex (on n0, subscribed to everything) saw none of it: a marker in globex's account arrives instead
    const marker = g0.subscribe("marker", { max: 1 });
    g0.publish("marker");
    for await (const _ of marker) break;
    gsub.unsubscribe();
    expect(seenByGlobex).to.deep.equal(["marker"]);
  });

  it("a delete is acknowledged by all 3 servers and disconnects the account's users everywhere", async () => {
    await resolver.push(tenantAccountJwt(keys, tenant("doomed")));
    const users = [await user(0, "doomed"), await user(1, "doomed"), await user(2, "doomed")];
    const r = await resolver.delete([tenantAccountPublicKey(keys, tenant("doomed"))]);
    expect(r).to.include({ ok: true, acks: 3 });
    for (const nc of users) expect(await closedWithin(nc, 10_000)).to.equal("closed");
  });

  it("reports a server that did not answer: 2 of 3 acknowledged", async () => {
    await servers[2]!.stop();
    const [r] = await resolver.pushMany([tenantAccountJwt(keys, tenant("partial"))]);
    expect(r).to.include({ ok: false, acks: 2, servers: 3 });
    expect(r!.errors).to.deep.equal(["1 of 3 servers did not reply"]);
    expect(await resolver.servers(true)).to.equal(2);
    expect(await resolver.push(tenantAccountJwt(keys, tenant("partial")))).to.include({
      ok: true,
      acks: 2,
      servers: 2,
    });
  });
});
