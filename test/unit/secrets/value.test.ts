import { expect } from "chai";
import { format, inspect } from "node:util";
import { SecretValue } from "../../../engine/secrets/value.js";

describe("secrets: SecretValue does not leak", () => {
  const PLAIN = "hunter2-very-secret";
  const v = new SecretValue(Buffer.from(PLAIN));

  it("prints, serialises and converts as [secret]", () => {
    expect(String(v)).to.equal("[secret]");
    expect(`${v}`).to.equal("[secret]");
    expect("x" + v).to.equal("x[secret]");
    expect(JSON.stringify({ password: v })).to.equal('{"password":"[secret]"}');
    expect(inspect(v)).to.equal("[secret]");
    expect(inspect({ nested: { v } }, { depth: 10, showHidden: true })).not.to.include(PLAIN);
    expect(format("%s %o %O %j", v, v, v, v)).not.to.include(PLAIN);
  });

  it("does not leak through console.log", () => {
    const lines: string[] = [];
    const original = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (lines.push(String(s)), true)) as typeof process.stdout.write;
    try {
      console.log(v, { v }, [v]);
    } finally {
      process.stdout.write = original;
    }
    expect(lines.join("")).not.to.include(PLAIN);
    expect(lines.join("")).to.include("[secret]");
  });

  it("gives the value only through reveal() and revealText(), as a copy", () => {
    expect(v.revealText()).to.equal(PLAIN);
    const bytes = v.reveal();
    bytes.fill(0);
    expect(v.revealText()).to.equal(PLAIN);
    expect(v.length).to.equal(PLAIN.length);
    expect(Object.keys(v)).to.deep.equal([]);
  });
});
