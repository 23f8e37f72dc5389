import { expect } from "chai";
import { MessageFailure } from "../../../engine/pipeline/failure.js";
import type { Message } from "../../../engine/pipeline/message.js";
import type { ProcessResult } from "../../../engine/pipeline/processor.js";
import { compileCsv } from "../../../engine/pipeline/steps/csv.js";
import { ItemFailure } from "../../../engine/pipeline/steps/step.js";
import { message, processor } from "./support.js";

const csv = (text: string, attributes: Record<string, number> = {}): Message => {
  const m = message(text, { contentType: "text/csv" });
  return { ...m, attributes: { ...m.attributes, ...attributes } };
};

describe("csv step", () => {
  it("header row, emit rows: a JSON message per row, id <id>.<row>, values as strings", () => {
    const out = compileCsv({ header: true, emit: "rows" })(csv('id,name\n1,Ada\n2,"Lin, B"\n')) as Message[];
    expect(out.map((m) => [m.id, m.body, m.contentType, m.attributes.id])).to.deep.equal([
      ["m1.0", { id: "1", name: "Ada" }, "application/json", "m1.0"],
      ["m1.1", { id: "2", name: "Lin, B" }, "application/json", "m1.1"],
    ]);
  });

  it("columns without a header, a delimiter, emit array: one message with every row under the input's id", () => {
    const out = compileCsv({ header: false, columns: ["a", "b"], delimiter: ";", emit: "array" })(csv("1;2\r\n3;4"));
    expect(out).to.deep.include({
      id: "m1",
      body: [
        { a: "1", b: "2" },
        { a: "3", b: "4" },
      ],
    });
  });

  it("a bad row is an ItemFailure with its line (VRS_MSG_CSV_ROW) and the good rows go on, ids kept", () => {
    const out = compileCsv({ header: true, emit: "rows" })(csv("a,b\n1,2\n3\n\n5,6\n7,8,9\n9,10\n"));
    const good = (out as Array<Message | ItemFailure>).filter((x): x is Message => !(x instanceof ItemFailure));
    const bad = (out as Array<Message | ItemFailure>).filter((x) => x instanceof ItemFailure);
    expect(good.map((m) => [m.id, m.body])).to.deep.equal([
      ["m1.0", { a: "1", b: "2" }],
      ["m1.2", { a: "5", b: "6" }],
      ["m1.4", { a: "9", b: "10" }],
    ]);
    expect(bad.map((f) => [f.id, f.code, f.message.replace(/:.*/, "")])).to.deep.equal([
      ["m1.1", "VRS_MSG_CSV_ROW", "line 3"],
      ["m1.3", "VRS_MSG_CSV_ROW", "line 6"],
    ]);
    expect(bad[0]!.message).to.match(/Invalid Record Length/);
  });

  it("a chunk of a file (attribute lineOffset) reports the file's line", () => {
    const out = compileCsv({ header: true, emit: "array" })(csv("a,b\n1,2\nbad\n", { lineOffset: 500 }));
    const bad = (out as Array<Message | ItemFailure>).find((x) => x instanceof ItemFailure);
    expect(bad?.message).to.match(/^line 503: /);
  });

  it("the processor routes the good rows and lists the bad ones as rejected", () => {
    const p = processor([{ name: "rows", type: "csv", config: { header: true, emit: "rows" } }]);
    const r = p.process(csv("a,b\n1,2\nx\n")) as ProcessResult & { outcome: "routed" };
    expect(r.outcome).to.equal("routed");
    expect(r.outputs.map((o) => o.message.id)).to.deep.equal(["m1.0"]);
    expect(r.rejected.map((x) => [x.messageId, x.step.name, x.code])).to.deep.equal([
      ["m1.1", "rows", "VRS_MSG_CSV_ROW"],
    ]);
    const all = p.process(csv("a,b\nx\n"));
    expect(all.outcome).to.equal("filtered");
    expect(all.outcome !== "dead" && all.rejected.length).to.equal(1);
  });

  it("a whole body it cannot read fails the message: not text, no columns, a __proto__ column", () => {
    const fails = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        return (e as MessageFailure).code;
      }
      return "passed";
    };
    expect(fails(() => compileCsv({})(message({ a: 1 })))).to.equal("VRS_MSG_NOT_CSV");
    expect(fails(() => compileCsv({ header: true })(csv("__proto__,b\n1,2\n")))).to.equal("VRS_MSG_NOT_CSV");
    expect(fails(() => compileCsv({ header: false })(csv("1,2\n")))).to.equal("VRS_MSG_NOT_CSV");
  });

  it("a 10 MB line is one bad or good row, not a crash", () => {
    const long = "x".repeat(10 * 1024 * 1024);
    const out = compileCsv({ header: true, emit: "rows" })(csv(`a,b\n${long}\n1,2\n`)) as Array<Message | ItemFailure>;
    expect(out.filter((x) => x instanceof ItemFailure)).to.have.length(1);
    expect(out.filter((x) => !(x instanceof ItemFailure)).map((m) => (m as Message).body)).to.deep.equal([
      { a: "1", b: "2" },
    ]);
  });
});

describe("csv step: broken quotes", () => {
  it("a quote that is never closed makes the rest of the text one bad row; the rows before it go on", () => {
    const out = compileCsv({ header: true, emit: "rows" })(csv('a,b\n1,2\n"3,4\n5,6\n')) as Array<
      Message | ItemFailure
    >;
    expect(out.filter((x) => !(x instanceof ItemFailure)).map((m) => m.id)).to.deep.equal(["m1.0"]);
    const bad = out.filter((x) => x instanceof ItemFailure);
    expect(bad).to.have.length(1);
    expect(bad[0]!.message).to.match(/^line \d+: Quote Not Closed/);
  });
});
