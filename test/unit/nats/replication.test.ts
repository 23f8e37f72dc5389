import { expect } from "chai";
import { clusterShape, parseReplicas, targetReplicas, wantedReplicas } from "../../../engine/nats/replication.js";
import { describeReplication } from "../../../engine/views/replication.js";
import { isVrskyError } from "../../../engine/errors/errors.js";

describe("replication: the --replicas setting and what it means on a server", () => {
  it("--replicas takes auto, 1, 3 or 5; anything else is a usage error naming the flag", () => {
    expect(["auto", "1", "3", "5"].map((v) => parseReplicas(v))).to.deep.equal(["auto", 1, 3, 5]);
    for (const bad of ["2", "0", "three", "", " 3"]) {
      try {
        parseReplicas(bad);
        expect.fail(`accepted '${bad}'`);
      } catch (e) {
        expect(isVrskyError(e) && e.code).to.equal("VRS_USAGE");
        expect((e as Error).message).to.include("--replicas must be auto, 1, 3 or 5");
      }
    }
  });

  it("the cluster's shape from the server's INFO: no cluster, advertised URLs (deduplicated), no_advertise", () => {
    expect(clusterShape(undefined)).to.deep.equal({ cluster: null, servers: 1 });
    expect(clusterShape({})).to.deep.equal({ cluster: null, servers: 1 });
    const urls = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:2"];
    expect(clusterShape({ cluster: "c", connect_urls: urls })).to.deep.equal({ cluster: "c", servers: 3 });
    expect(clusterShape({ cluster: "c" })).to.deep.equal({ cluster: "c", servers: null });
  });

  it("auto: 3 on a cluster of 3 or more, else 1; explicit values hold on a cluster; always 1 off a cluster", () => {
    const single = { cluster: null, servers: 1 };
    expect(wantedReplicas("auto", single)).to.equal(1);
    expect(wantedReplicas(3, single)).to.equal(1);
    expect(wantedReplicas("auto", { cluster: "c", servers: 2 })).to.equal(1);
    expect(wantedReplicas("auto", { cluster: "c", servers: 3 })).to.equal(3);
    expect(wantedReplicas("auto", { cluster: "c", servers: 7 })).to.equal(3);
    expect(wantedReplicas("auto", { cluster: "c", servers: null })).to.equal(1);
    expect(wantedReplicas(5, { cluster: "c", servers: null })).to.equal(5);
    expect(wantedReplicas(1, { cluster: "c", servers: 3 })).to.equal(1);
  });

  it("an existing stream: auto only raises its replicas, an explicit setting sets them", () => {
    expect(targetReplicas("auto", 3, 1)).to.equal(3);
    expect(targetReplicas("auto", 1, 3)).to.equal(3);
    expect(targetReplicas(1, 1, 3)).to.equal(1);
    expect(targetReplicas(3, 3, 3)).to.equal(3);
  });

  it("one line for status: the replicas, where, and buckets that differ", () => {
    const b = (bucket: string, replicas: number) => ({ bucket, replicas });
    expect(
      describeReplication({ cluster: "vrsky", servers: 3, replicas: 3, buckets: [b("vrsky-a", 3), b("vrsky-b", 3)] }),
    ).to.equal("R3 on cluster vrsky (3 servers)");
    expect(describeReplication({ cluster: null, servers: 1, replicas: 1, buckets: [b("vrsky-a", 1)] })).to.equal(
      "R1 on a single server",
    );
    expect(
      describeReplication({ cluster: "c", servers: null, replicas: 1, buckets: [b("vrsky-a", 1), b("vrsky-b", 3)] }),
    ).to.equal("R1 on cluster c (servers not advertised); vrsky-b R3");
  });
});
