import { expect } from "chai";
import { bindHost, httpUrl, listenFailure, parseListen } from "../../../engine/util/listen-address.js";
import { codeOf } from "../../helpers/codes.js";

describe("cli: listen addresses (engine/util/listen-address.ts)", () => {
  it("host:port, [ipv6]:port, :port (every interface) and port (loopback)", () => {
    expect(parseListen("127.0.0.1:9464")).to.include({ host: "127.0.0.1", port: 9464 });
    expect(parseListen("localhost:0")).to.include({ host: "localhost", port: 0 });
    expect(parseListen("metrics.internal.example:80")).to.include({ host: "metrics.internal.example", port: 80 });
    expect(parseListen("[::1]:9465")).to.include({ host: "::1", port: 9465 });
    expect(parseListen("[::]:9465")).to.include({ host: "::", port: 9465 });
    expect(parseListen(":9465")).to.include({ host: undefined, port: 9465 });
    expect(parseListen("9465")).to.include({ host: "127.0.0.1", port: 9465 });
    expect(parseListen("0.0.0.0:65535")).to.include({ host: "0.0.0.0", port: 65535 });
  });

  it("anything else is VRS_USAGE naming the flag and the forms", () => {
    for (const bad of [
      "",
      "nope",
      ":",
      "::1:9464",
      "[::1]",
      "[nope]:1",
      "[::1]:x",
      "1.2.3.4:65536",
      "a b:1",
      "h:-1",
      "h:1.5",
      "-x:1",
      "127.0.0.1:",
    ]) {
      expect(
        codeOf(() => parseListen(bad, "--gateway-listen")),
        bad,
      ).to.equal("VRS_USAGE");
    }
    expect(() => parseListen("::1:9464", "--listen")).to.throw(
      /--listen '::1:9464' .*in brackets, e\.g\. \[::1\]:9464/,
    );
    expect(() => parseListen("x\u001b[2J:1")).to.throw(/'x\\x1b\[2J:1'/);
  });

  it("every interface binds :: where there is IPv6 (IPv4 too), 0.0.0.0 where there is none", () => {
    expect(["::", "0.0.0.0"]).to.include(bindHost(parseListen(":1")));
    expect(bindHost(parseListen("[::1]:1"))).to.equal("::1");
    expect(httpUrl({ address: "::", family: "IPv6", port: 80 })).to.equal("http://[::]:80");
    expect(httpUrl({ address: "127.0.0.1", family: "IPv4", port: 80 })).to.equal("http://127.0.0.1:80");
  });

  it("a bind failure is one line naming the flag and what to do", () => {
    const inUse = Object.assign(new Error("listen EADDRINUSE"), { code: "EADDRINUSE" });
    const e = listenFailure("--listen", parseListen("127.0.0.1:9464"), inUse);
    expect(e.code).to.equal("VRS_LISTEN_FAILED");
    expect(e.message).to.equal(
      "cannot serve --listen 127.0.0.1:9464: port 9464 is already in use; stop what holds it or choose another port (0: any free one)",
    );
  });
});
