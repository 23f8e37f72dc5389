import { expect } from "chai";
import {
  classifyAddress,
  isAddressAllowed,
  parseV6,
  type AddressClass,
} from "../../../../engine/worker/flow/sinks/address-policy.js";

describe("address policy of HTTP sinks", () => {
  const cases: Array<[string, AddressClass, boolean]> = [
    // address, class, allowed by default
    ["8.8.8.8", "public", true],
    ["93.184.216.34", "public", true],
    ["127.0.0.1", "loopback", false],
    ["127.255.255.254", "loopback", false],
    ["0.0.0.0", "unspecified", false],
    ["0.1.2.3", "unspecified", false],
    ["169.254.169.254", "metadata", false],
    ["169.254.170.2", "metadata", false],
    ["169.254.1.1", "link-local", false],
    ["100.100.100.200", "metadata", false],
    ["168.63.129.16", "metadata", false],
    ["192.0.0.192", "metadata", false],
    ["10.1.2.3", "private", true],
    ["172.16.0.1", "private", true],
    ["172.31.255.255", "private", true],
    ["172.32.0.1", "public", true],
    ["192.168.1.10", "private", true],
    ["100.64.0.1", "private", true],
    ["224.0.0.1", "multicast", false],
    ["255.255.255.255", "reserved", false],
    ["::", "unspecified", false],
    ["::1", "loopback", false],
    ["[::1]", "loopback", false],
    ["0:0:0:0:0:0:0:1", "loopback", false],
    ["fe80::1", "link-local", false],
    ["febf:ffff::1", "link-local", false],
    ["fd00:ec2::254", "metadata", false],
    ["fd00:ec2::23", "metadata", false],
    ["fd20:ce::254", "metadata", false],
    ["fd12:3456::1", "private", true],
    ["fc00::1", "private", true],
    ["ff02::1", "multicast", false],
    ["2001:4860:4860::8888", "public", true],
    // IPv4 inside IPv6: the IPv4 address decides
    ["::ffff:127.0.0.1", "loopback", false],
    ["::ffff:7f00:1", "loopback", false],
    ["::ffff:169.254.169.254", "metadata", false],
    ["::ffff:a9fe:a9fe", "metadata", false],
    ["::ffff:0:127.0.0.1", "loopback", false],
    ["::127.0.0.1", "loopback", false],
    ["::ffff:10.0.0.1", "private", true],
    ["::ffff:8.8.8.8", "public", true],
    ["64:ff9b::169.254.169.254", "metadata", false],
    ["64:ff9b::8.8.8.8", "public", true],
    ["64:ff9b:1::7f00:1", "loopback", false],
    // not addresses
    ["localhost", "invalid", false],
    ["127.1", "invalid", false],
    ["01.2.3.4", "invalid", false],
    ["256.1.1.1", "invalid", false],
    ["1::2::3", "invalid", false],
    ["fe80::1%eth0", "invalid", false],
    ["1:2:3:4:5:6:7:8:9", "invalid", false],
    ["", "invalid", false],
  ];
  for (const [address, cls, allowed] of cases) {
    it(`${address || "(empty)"} is ${cls}, ${allowed ? "allowed" : "refused"} by default`, () => {
      expect(classifyAddress(address)).to.equal(cls);
      expect(isAddressAllowed(address, false)).to.equal(allowed);
      expect(isAddressAllowed(address, true), "everything is allowed with --allow-private-sinks").to.equal(true);
    });
  }

  it("parses IPv6 forms to the same bytes", () => {
    const a = parseV6("::ffff:127.0.0.1");
    const b = parseV6("0:0:0:0:0:ffff:7f00:0001");
    expect(a).to.deep.equal(b);
    expect(parseV6("1:2:3:4:5:6:7::")).to.not.equal(undefined);
    expect(parseV6("::1:2:3:4:5:6:7")).to.not.equal(undefined);
    expect(parseV6("1:2:3:4:5:6:7:8::")).to.equal(undefined);
  });
});
