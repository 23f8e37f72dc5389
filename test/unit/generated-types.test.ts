import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import type { HttpSourceConfig, Integration, SinkSpec, SourceSpec, StepSpec } from "../../engine/model/generated.js";
import { packageRoot } from "../../engine/util/package-root.js";

/** schemas/generate.mjs: plain JS outside the TypeScript build, imported by absolute URL at run time. */
interface Generator {
  generateSchemas(): Promise<Map<string, string>>;
  committedSchemaFiles(): string[];
  generateTypes(): Promise<string>;
}

const root = packageRoot();
const generator = () => import(pathToFileURL(join(root, "schemas", "generate.mjs")).href) as Promise<Generator>;
const REGENERATE = "regenerate with `npm run gen:schemas` after changing a connector or a schema module";

function expectSameText(file: string, actual: string, expected: string): void {
  if (actual === expected) return;
  const a = actual.split("\n");
  const b = expected.split("\n");
  let i = 0;
  while (i < Math.max(a.length, b.length) && a[i] === b[i]) i++;
  expect.fail(
    `${file} is out of date (first difference at line ${i + 1}: ` +
      `${JSON.stringify(a[i] ?? "<end of file>")} vs generated ${JSON.stringify(b[i] ?? "<end of file>")}); ${REGENERATE}`,
  );
}

describe("generated files (schemas/generate.mjs)", () => {
  it("schemas/**/*.json are exactly the schemas validation compiles and their bundle, and no other schema file is left", async () => {
    const gen = await generator();
    const expected = await gen.generateSchemas();
    expect(gen.committedSchemaFiles(), REGENERATE).to.deep.equal([...expected.keys()].sort());
    for (const [file, text] of expected)
      expectSameText(`schemas/${file}`, readFileSync(join(root, "schemas", file), "utf8"), text);
  });

  it("engine/model/generated.ts is exactly what generateTypes() derives from them", async () => {
    const expected = await (await generator()).generateTypes();
    const actual = readFileSync(join(root, "engine", "model", "generated.ts"), "utf8");
    expectSameText("engine/model/generated.ts", actual, expected);
  });

  it("connector configs are typed by a union discriminated on `type`", () => {
    // Compile-time checks: these lines only type-check while `type` narrows `config`.
    const webhookPath = (s: SourceSpec): string | undefined => (s.type === "http" ? s.config.path : undefined);
    const filterCondition = (s: StepSpec): string | undefined => (s.type === "filter" ? s.config.when : undefined);
    const table = (s: SinkSpec): string | undefined => (s.type === "postgres" ? s.config.table : undefined);
    const config: HttpSourceConfig = { path: "/orders" };
    const spec: Integration["spec"] = {
      source: { type: "http", config },
      steps: [{ name: "big", type: "filter", config: { when: "body.total > 1" } }],
      sinks: [{ name: "db", type: "postgres", config: { host: "h", database: "d", user: "u", table: "t" } }],
    };
    expect(webhookPath(spec.source)).to.equal("/orders");
    expect(filterCondition(spec.steps![0]!)).to.equal("body.total > 1");
    expect(table(spec.sinks[0])).to.equal("t");
    // @ts-expect-error an http source has no `subject`: the config type follows `type`.
    const wrong: SourceSpec = { type: "http", config: { path: "/a", subject: "x" } };
    expect(wrong.type).to.equal("http");
  });
});
