import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "chai";
import { packageRoot } from "../../engine/util/package-root.js";

describe("engine/model/generated.ts", () => {
  it("is exactly what generate() of schemas/gen-types.mjs derives from the schemas", async () => {
    const root = packageRoot();
    // Plain JS outside the TypeScript build: imported by absolute URL at run time.
    const gen = (await import(pathToFileURL(join(root, "schemas", "gen-types.mjs")).href)) as {
      generate(): Promise<string>;
    };
    const expected = await gen.generate();
    const actual = readFileSync(join(root, "engine", "model", "generated.ts"), "utf8");
    if (actual !== expected) {
      const a = actual.split("\n");
      const b = expected.split("\n");
      let i = 0;
      while (i < Math.max(a.length, b.length) && a[i] === b[i]) i++;
      expect.fail(
        `engine/model/generated.ts is out of date (first difference at line ${i + 1}: ` +
          `${JSON.stringify(a[i] ?? "<end of file>")} vs generated ${JSON.stringify(b[i] ?? "<end of file>")}); ` +
          "regenerate it with `node schemas/gen-types.mjs` after changing a schema",
      );
    }
  });
});
