import { expect } from "chai";
import { once } from "node:events";
import { Writable } from "node:stream";
import { exitCodeAfterWrites, StdStream } from "../../../engine/cli/std-streams.js";

/** A stream whose writes fail with `code` (EPIPE: the reader went away; ENOSPC: a full disk). */
function failing(code: string): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb(Object.assign(new Error(code), { code }));
    },
  });
  return { stream: w as unknown as NodeJS.WriteStream, writes };
}

describe("cli: standard streams (closed pipes and failed writes)", () => {
  it("a closed pipe (EPIPE) stops the writing and is no failure", async () => {
    const f = failing("EPIPE");
    const s = new StdStream(f.stream);
    s.write("first");
    await once(f.stream, "error");
    s.write("second");
    expect(f.writes).to.deep.equal(["first"]);
    expect(s.closed).to.equal(true);
    expect(s.failure).to.equal(undefined);
    for (const code of [0, 1, 2]) expect(exitCodeAfterWrites(code, [s])).to.equal(code);
  });

  it("another write error (ENOSPC) stops the writing and turns success and findings into 2", async () => {
    const f = failing("ENOSPC");
    const s = new StdStream(f.stream);
    s.write("first");
    await once(f.stream, "error");
    s.write("second");
    expect(f.writes).to.deep.equal(["first"]);
    expect(s.failure?.code).to.equal("ENOSPC");
    expect([0, 1, 2, 70, 130].map((c) => exitCodeAfterWrites(c, [s]))).to.deep.equal([2, 2, 2, 70, 130]);
  });
});
