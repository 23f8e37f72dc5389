import { expect } from "chai";
import { formatPath, fromPointer, type PathSegment } from "../../../engine/manifests/json-path.js";

describe("JSON paths of findings and plan fields", () => {
  const formatted: Array<[PathSegment[], string]> = [
    [[], ""],
    [["spec"], "spec"],
    [["spec", "replicas"], "spec.replicas"],
    [["spec", "sinks", 0, "config", "url"], "spec.sinks[0].config.url"],
    [["spec", "sinks", 12], "spec.sinks[12]"],
    [["spec", "sinks", 0, "config", "headers", "x-api-key"], 'spec.sinks[0].config.headers["x-api-key"]'],
    [["metadata", "labels", "app.kubernetes.io/name"], 'metadata.labels["app.kubernetes.io/name"]'],
    [["a", "with space"], 'a["with space"]'],
    [["a", 'quo"te'], 'a["quo\\"te"]'],
    [["a", ""], 'a[""]'],
    [["a", "0"], 'a["0"]'],
    [["_private", "camelCase9"], "_private.camelCase9"],
    [[0], "[0]"],
    [[0, 1], "[0][1]"],
    [["9lives"], '["9lives"]'],
    [["__proto__"], "__proto__"],
    [["ключ"], '["ключ"]'],
  ];
  for (const [segments, text] of formatted) {
    it(`formats ${JSON.stringify(segments)} as ${text === "" ? "(empty)" : text}`, () => {
      expect(formatPath(segments)).to.equal(text);
    });
  }

  const pointers: Array<[string, PathSegment[]]> = [
    ["", []],
    ["/spec", ["spec"]],
    ["/spec/sinks/0/config", ["spec", "sinks", 0, "config"]],
    ["/spec/sinks/10", ["spec", "sinks", 10]],
    ["/labels/a~1b", ["labels", "a/b"]],
    ["/labels/~0x", ["labels", "~x"]],
    ["/labels/~01", ["labels", "~1"]],
    ["/a/01", ["a", "01"]],
    ["/a/-1", ["a", "-1"]],
    ["/a/", ["a", ""]],
  ];
  for (const [pointer, segments] of pointers) {
    it(`reads the ajv pointer ${JSON.stringify(pointer)}`, () => {
      expect(fromPointer(pointer)).to.deep.equal(segments);
    });
  }

  it("pointer → segments → text round-trips the paths findings report", () => {
    expect(formatPath(fromPointer("/spec/sinks/0/config/headers/Content-Type"))).to.equal(
      'spec.sinks[0].config.headers["Content-Type"]',
    );
    expect(formatPath(fromPointer("/spec/steps/3/config/fields/total"))).to.equal("spec.steps[3].config.fields.total");
  });
});
