import { expect } from "chai";
import { DEFAULT_LIMITS } from "../../../engine/manifests/limits.js";
import { integrationYaml, tenantYaml } from "../../helpers/git-repo.js";
import { bytesOf, expectOutcome, load, type Expected } from "./hostile-support.js";

/** Hostile cases too big, too binary or too repetitive to commit: built here, byte for byte. */
interface GeneratedCase {
  name: string;
  bytes: () => Uint8Array;
  path?: string;
  expect: Expected[];
  resources?: string[];
}

const ACME = "tenants/acme.yaml";

function concat(...parts: Array<string | number[]>): Uint8Array {
  const chunks = parts.map((p) => (typeof p === "string" ? bytesOf(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** `a:` nested `levels` deep in block style, one more space of indentation per level. */
function deepBlockMap(levels: number): string {
  return Array.from({ length: levels }, (_, i) => `${" ".repeat(i)}a:`).join("\n") + " 1\n";
}

/** The tenant manifest padded with a trailing comment to exactly `size` bytes. */
function paddedTenant(size: number): string {
  const base = tenantYaml("acme") + "#";
  return base + "x".repeat(size - base.length - 1) + "\n";
}

const CASES: GeneratedCase[] = [
  // Nesting: the flow pre-scan stops 100k brackets before the parser sees them.
  {
    name: "100,000 '[' (unclosed flow sequences)",
    bytes: () => bytesOf("[".repeat(100_000)),
    expect: [["VRS_YAML_TOO_DEEP", "", 1, 1]],
  },
  {
    name: "100,000 '{' (unclosed flow mappings)",
    bytes: () => bytesOf("{".repeat(100_000)),
    expect: [["VRS_YAML_TOO_DEEP", "", 1, 1]],
  },
  {
    name: "50,000 '[{' pairs as a value",
    bytes: () => bytesOf(`metadata: ${"[{".repeat(50_000)}`),
    expect: [["VRS_YAML_TOO_DEEP", "", 1, 1]],
  },
  {
    name: "33 nested flow sequences, closed",
    bytes: () => bytesOf(`x: ${"[".repeat(33)}1${"]".repeat(33)}\n`),
    expect: [["VRS_YAML_TOO_DEEP", `x${"[0]".repeat(32)}`, 1, 36]],
  },
  {
    name: "block mapping nested 100 levels",
    bytes: () => bytesOf(deepBlockMap(100)),
    expect: [["VRS_YAML_TOO_DEEP", Array(33).fill("a").join("."), 34, 34]],
  },
  {
    name: "block sequence nested 100 levels on one line",
    bytes: () => bytesOf(`${"- ".repeat(100)}1\n`),
    expect: [["VRS_YAML_TOO_DEEP", "[0]".repeat(33), 1, 67]],
  },
  {
    // The pre-parse guard counts brackets even inside quotes, so quotes cannot smuggle real nesting past it.
    name: "100,000 '[' inside a quoted string are refused before parsing",
    bytes: () =>
      bytesOf(
        tenantYaml("acme", `  tier: shared\n`).replace(
          "  name: acme\n",
          `  name: acme\n  annotations:\n    note: "${"[".repeat(100_000)}"\n`,
        ),
      ),
    expect: [["VRS_YAML_TOO_DEEP", "", 1, 1]],
  },
  // Size
  {
    name: "300 KiB file, over the 256 KiB limit",
    bytes: () => bytesOf(paddedTenant(300 * 1024)),
    expect: [["VRS_FILE_TOO_LARGE", "", 1, 1]],
  },
  {
    name: "one byte over the size limit",
    bytes: () => bytesOf(paddedTenant(DEFAULT_LIMITS.maxFileBytes + 1)),
    expect: [["VRS_FILE_TOO_LARGE", "", 1, 1]],
  },
  {
    name: "exactly the size limit is accepted",
    bytes: () => bytesOf(paddedTenant(DEFAULT_LIMITS.maxFileBytes)),
    expect: [],
    resources: ["Tenant/acme"],
  },
  // Bytes that are not UTF-8 YAML text
  {
    name: "NUL byte after a valid manifest",
    bytes: () => concat(tenantYaml("acme"), [0]),
    expect: [["VRS_FILE_BINARY", "", 1, 1]],
  },
  {
    name: "PNG header",
    bytes: () => concat([0x89], "PNG\r\n", [0x1a, 0x0a, 0, 0, 0, 0x0d], "IHDR"),
    expect: [["VRS_FILE_BINARY", "", 1, 1]],
  },
  {
    name: "64 KiB of pseudo-random bytes",
    bytes: () => {
      const out = new Uint8Array(64 * 1024);
      let x = 0x2545f491;
      for (let i = 0; i < out.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        out[i] = x & 0xff;
      }
      return out;
    },
    expect: [["VRS_FILE_BINARY", "", 1, 1]],
  },
  {
    name: "invalid UTF-8 (0xC3 0x28) in line 2",
    bytes: () => concat("apiVersion: vrsky.io/v1\nkind: Ten", [0xc3, 0x28], "ant\n"),
    expect: [["VRS_FILE_NOT_UTF8", "", 2, 10]],
  },
  {
    name: "Latin-1 text",
    bytes: () => concat(tenantYaml("acme", "  tier: shared\n"), "# caf", [0xe9], "\n"),
    expect: [["VRS_FILE_NOT_UTF8", "", 7, 6]],
  },
  {
    name: "overlong encoding of '/'",
    bytes: () => concat("a: b\n\nc: ", [0xc0, 0xaf], "\n"),
    expect: [["VRS_FILE_NOT_UTF8", "", 3, 4]],
  },
  {
    name: "UTF-16 surrogate encoded as UTF-8",
    bytes: () => concat("a: ", [0xed, 0xa0, 0x80], "\n"),
    expect: [["VRS_FILE_NOT_UTF8", "", 1, 4]],
  },
  {
    name: "multi-byte sequence cut at the end of the file",
    bytes: () => concat("a: b\nc: ", [0xe2, 0x82]),
    expect: [["VRS_FILE_NOT_UTF8", "", 2, 4]],
  },
  { name: "UTF-16 little-endian", bytes: () => concat([0xff, 0xfe], "a"), expect: [["VRS_FILE_NOT_UTF8", "", 1, 1]] },
  {
    name: "UTF-8 with a byte order mark is fine",
    bytes: () => concat([0xef, 0xbb, 0xbf], tenantYaml("acme")),
    expect: [],
    resources: ["Tenant/acme"],
  },
  // Repetition
  {
    name: "101 documents in one file",
    path: "tenants/all.yaml",
    bytes: () => bytesOf(Array.from({ length: 101 }, (_, i) => tenantYaml(`t${i}`)).join("---\n")),
    expect: [["VRS_YAML_SYNTAX", "", 1, 1]],
  },
  {
    name: "51 aliases of one anchor",
    bytes: () => bytesOf(`a: &a 1\nl: [${Array(51).fill("*a").join(", ")}]\n`),
    expect: [["VRS_YAML_ALIAS_LIMIT", "", 1, 1]],
  },
  {
    name: "a 1 MiB alias bomb is refused by size before any expansion",
    bytes: () => bytesOf(`a: &a [${Array(200_000).fill('"x"').join(",")}]\nb: [${Array(1000).fill("*a").join(",")}]\n`),
    expect: [["VRS_FILE_TOO_LARGE", "", 1, 1]],
  },
];

describe("hostile input generated in the test through loadDesired", () => {
  for (const c of CASES) {
    const codes = [...new Set(c.expect.map((e) => e[0]))].join(", ") || "no findings";
    it(`${c.name}: ${codes}`, () => {
      const path = c.path ?? ACME;
      expectOutcome(
        load([{ path, bytes: c.bytes() }]),
        path,
        c.expect,
        c.resources ?? (c.expect.length > 0 ? [] : undefined),
      );
    });
  }

  it("5,000 valid integrations across 50 tenants validate with no findings", function () {
    this.timeout(60_000);
    const files: Array<{ path: string; bytes: Uint8Array }> = [];
    for (let t = 0; t < 50; t++) {
      files.push({
        path: `tenants/t${t}.yaml`,
        bytes: bytesOf(tenantYaml(`t${t}`, "  limits:\n    integrations: 100\n")),
      });
      for (let i = 0; i < 100; i++)
        files.push({ path: `integrations/t${t}/i${i}.yaml`, bytes: bytesOf(integrationYaml(`t${t}`, `i${i}`)) });
    }
    const r = load(files);
    expect(r.state.findings).to.deep.equal([]);
    expect(r.state.files).to.equal(5050);
    expect(r.state.resources).to.have.length(5050);
    expect(r.state.resources.slice(0, 50).every((x) => x.kind === "Tenant")).to.equal(true);
    // A hang detector for the whole repository, not a benchmark.
    expect(r.ms, "load time in ms").to.be.below(20_000);
  });

  it("more files than maxFiles: VRS_REPO_TOO_MANY_FILES, and nothing is parsed", () => {
    const files = Array.from({ length: 11 }, (_, i) => ({
      path: `tenants/t${i}.yaml`,
      bytes: bytesOf("kind: [broken"),
    }));
    const r = load(files, { maxFiles: 10 });
    expectOutcome(r, ".", [["VRS_REPO_TOO_MANY_FILES", "", 1, 1]], []);
    expect(r.state.files).to.equal(11);
    expectOutcome(
      load(files.slice(0, 10), { maxFiles: 10 }),
      "tenants/t0.yaml",
      files
        .slice(0, 10)
        .map((f): Expected => ["VRS_YAML_SYNTAX", "", 1, 14, f.path])
        .sort((a, b) => (a[4]! < b[4]! ? -1 : 1)),
      [],
    );
  });
});
