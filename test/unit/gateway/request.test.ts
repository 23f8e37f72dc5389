import { expect } from "chai";
import { createHmac } from "node:crypto";
import { PassThrough } from "node:stream";
import { STATE_FORMAT, type StateRecord } from "../../../engine/contract/state.js";
import { classifyIngestError } from "../../../engine/dataplane/ingest.js";
import {
  BodyTooLarge,
  bodyProblem,
  contentProblem,
  deliveryId,
  readLimited,
  storedHeaders,
} from "../../../engine/gateway/request.js";
import { routeOf, splitUrl } from "../../../engine/gateway/route.js";
import { signatureBytes, signatureMatches } from "../../../engine/gateway/signature.js";
import { integrationResource } from "../../helpers/manifests.js";

const record = (config: Record<string, unknown>, type = "http"): StateRecord => ({
  format: STATE_FORMAT,
  kind: "Integration",
  revision: "c0ffee",
  hash: "",
  resource: integrationResource("acme", "orders", { source: { type, config } }),
  appliedAt: "",
  appliedBy: "",
});

describe("gateway: routes, headers, delivery ids, bodies and signatures", () => {
  it("reads an http source's route with the schema's defaults, and nothing from other sources", () => {
    const r = routeOf(record({ path: "/orders" }), 7)!;
    expect(r).to.deep.include({
      key: "acme.orders",
      tenant: "acme",
      integration: "orders",
      path: "/orders",
      methods: ["POST"],
      maxBodyBytes: 1_048_576,
      responseStatus: 202,
      revision: "c0ffee",
      seq: 7,
    });
    expect(r.signature).to.equal(undefined);
    const s = routeOf(
      record({
        path: "/x",
        methods: ["PUT"],
        maxBodyBytes: "1KiB",
        signature: { secretRef: "k", algorithm: "hmac-sha1", header: "X-Hub-Signature", prefix: "sha1=" },
        deliveryIdHeader: "X-Delivery",
        responseStatus: 200,
      }),
      1,
    )!;
    expect(s.maxBodyBytes).to.equal(1024);
    expect(s.signature).to.deep.equal({ hash: "sha1", header: "x-hub-signature", prefix: "sha1=", secretRef: "k" });
    expect(s.deliveryIdHeader).to.equal("x-delivery");
    expect(routeOf(record({ subject: "a" }, "nats"), 1)).to.equal(undefined);
    expect(routeOf({ ...record({ path: "/x" }), kind: "Tenant" }, 1)).to.equal(undefined);
  });

  it("splits /t/<tenant>/<path> and ignores the query string", () => {
    expect(splitUrl("/t/acme/orders?token=x")).to.deep.equal({ tenant: "acme", path: "/orders" });
    expect(splitUrl("/t/acme/a/b/")).to.deep.equal({ tenant: "acme", path: "/a/b/" });
    expect(splitUrl("/t/acme")).to.equal(undefined);
    expect(splitUrl("/t//orders")).to.equal(undefined);
    expect(splitUrl("/x/acme/orders")).to.equal(undefined);
  });

  it("stores headers in lower case without credentials, hop-by-hop headers or the signature header", () => {
    const h = storedHeaders(
      {
        "content-type": "application/json",
        "x-github-event": "push",
        authorization: "Bearer abc",
        cookie: "a=b",
        "proxy-authorization": "x",
        "x-api-key": "k",
        connection: "keep-alive, x-hop",
        "x-hop": "1",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        upgrade: "h2c",
        host: "gw:8080",
        "content-length": "12",
        "x-signature-256": "sha256=00",
        "x-multi": ["a", "b"] as unknown as string,
      },
      { signature: { hash: "sha256", header: "x-signature-256", prefix: "sha256=", secretRef: "s" } },
    );
    expect(h).to.deep.equal({ "content-type": "application/json", "x-github-event": "push", "x-multi": "a, b" });
  });

  it("takes the delivery id from the configured header, Idempotency-Key, then X-GitHub-Delivery", () => {
    const headers = { "x-delivery": "d1", "idempotency-key": "i1", "x-github-delivery": "g1" };
    expect(deliveryId(headers, { deliveryIdHeader: "x-delivery" })).to.deep.equal({ id: "d1" });
    expect(deliveryId(headers, {})).to.deep.equal({ id: "i1" });
    expect(deliveryId({ "x-github-delivery": " g1 " }, {})).to.deep.equal({ id: "g1" });
    expect(deliveryId({ "idempotency-key": "  " }, {})).to.equal(undefined);
    expect(deliveryId({ "idempotency-key": "x".repeat(257) }, {})).to.have.property("error");
  });

  it("refuses content types and encodings it cannot carry (415), and unreadable bodies (400)", () => {
    expect(contentProblem("multipart/form-data; boundary=x", undefined)).to.match(/cannot be carried/);
    expect(contentProblem("image/png", undefined)).to.match(/cannot be carried/);
    expect(contentProblem("application/json", "gzip")).to.match(/not supported/);
    expect(contentProblem("application/json", "identity")).to.equal(undefined);
    expect(contentProblem(undefined, undefined)).to.equal(undefined);
    expect(bodyProblem(Buffer.from('{"a":'), "application/json")).to.match(/not valid JSON/);
    expect(bodyProblem(Buffer.from('{"a":1}'), "application/vnd.x+json; charset=utf-8")).to.equal(undefined);
    expect(bodyProblem(Buffer.from([0xff, 0xfe]), "text/plain")).to.match(/UTF-8/);
    expect(bodyProblem(Buffer.from("a=1&b=2"), "application/x-www-form-urlencoded")).to.equal(undefined);
  });

  it("reads a body up to its limit and stops past it", async () => {
    const ok = new PassThrough();
    const p = readLimited(ok, 10);
    ok.end(Buffer.from("0123456789"));
    expect((await p).toString()).to.equal("0123456789");
    const big = new PassThrough();
    const q = readLimited(big, 10);
    big.write(Buffer.from("012345"));
    big.write(Buffer.from("6789ab"));
    const err = await q.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BodyTooLarge);
    expect(big.isPaused()).to.equal(true);
  });

  it("matches HMAC signatures in hex or base64 after the prefix, and nothing else", () => {
    const secret = Buffer.from("s3cret");
    const body = Buffer.from('{"a":1}');
    const mac = createHmac("sha256", secret).update(body).digest();
    const sig = { hash: "sha256" as const, prefix: "sha256=" };
    expect(signatureMatches(secret, body, `sha256=${mac.toString("hex")}`, sig)).to.equal(true);
    expect(signatureMatches(secret, body, `sha256=${mac.toString("hex").toUpperCase()}`, sig)).to.equal(true);
    expect(signatureMatches(secret, body, `sha256=${mac.toString("base64")}`, sig)).to.equal(true);
    expect(signatureMatches(secret, body, mac.toString("hex"), sig), "no prefix").to.equal(false);
    expect(signatureMatches(secret, Buffer.from("{}"), `sha256=${mac.toString("hex")}`, sig)).to.equal(false);
    expect(signatureMatches(secret, body, `sha256=${mac.toString("hex").slice(2)}`, sig)).to.equal(false);
    expect(signatureMatches(secret, body, undefined, sig)).to.equal(false);
    expect(signatureBytes("sha256=zz", sig)).to.equal(undefined);
    const sha1 = createHmac("sha1", secret).update(body).digest("hex");
    expect(signatureMatches(secret, body, `sha1=${sha1}`, { hash: "sha1", prefix: "sha1=" })).to.equal(true);
  });

  it("takes a publish nothing answered (no ingest stream) as unavailable (503), not as a failure", () => {
    expect(classifyIngestError(new Error("jetstream is not enabled")).kind).to.equal("unavailable");
    expect(classifyIngestError(new Error("503")).kind).to.equal("unavailable");
    expect(classifyIngestError(new Error("TIMEOUT")).kind).to.equal("unavailable");
    expect(classifyIngestError(new Error("something odd")).kind).to.equal("failed");
  });
});
