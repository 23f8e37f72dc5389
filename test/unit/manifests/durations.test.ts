import { expect } from "chai";
import { formatDuration, parseDuration, parseSize } from "../../../engine/manifests/durations.js";

describe("durations", () => {
  // [text, milliseconds or undefined, canonical form]
  const durations: Array<[string, number | undefined, string?]> = [
    ["0s", 0, "0s"],
    ["0ms", 0, "0s"],
    ["500ms", 500, "500ms"],
    ["1000ms", 1000, "1s"],
    ["1s", 1000, "1s"],
    ["1.5s", 1500, "1s500ms"],
    ["90s", 90_000, "1m30s"],
    ["1m30s", 90_000, "1m30s"],
    ["1h30m", 5_400_000, "1h30m"],
    ["24h", 86_400_000, "1d"],
    ["7d", 604_800_000, "7d"],
    ["1d2h3m4s5ms", 93_784_005, "1d2h3m4s5ms"],
    // Each unit at most once, largest first: a repeated or reordered unit is more likely a typo than intent.
    ["1s1s", undefined],
    ["1m1h", undefined],
    ["30s1m", undefined],
    ["01s", 1000, "1s"],
    ["0.5ms", 1, "1ms"],
    ["0.4ms", 0, "0s"],
    ["366d", 366 * 86_400_000, "366d"],
    ["8784h", 366 * 86_400_000, "366d"],
    ["367d", undefined],
    ["8785h", undefined],
    ["", undefined],
    ["1", undefined],
    ["s", undefined],
    ["1S", undefined],
    ["1 s", undefined],
    [" 1s", undefined],
    ["1s ", undefined],
    ["-1s", undefined],
    ["+1s", undefined],
    ["1.s", undefined],
    [".5s", undefined],
    ["1.5.5s", undefined],
    ["1e3ms", undefined],
    ["1us", undefined],
    ["1w", undefined],
    ["5 minutes", undefined],
    ["1ms500", undefined],
  ];
  for (const [text, ms, canonical] of durations) {
    it(`${JSON.stringify(text)} → ${ms === undefined ? "invalid" : `${ms} ms (${canonical})`}`, () => {
      expect(parseDuration(text)).to.equal(ms);
      if (ms !== undefined) expect(formatDuration(ms)).to.equal(canonical);
    });
  }

  it("formatting is canonical: the shortest text, largest units first, and it parses back", () => {
    const table: Array<[number, string]> = [
      [0, "0s"],
      [1, "1ms"],
      [999, "999ms"],
      [1000, "1s"],
      [1001, "1s1ms"],
      [60_000, "1m"],
      [3_600_000, "1h"],
      [86_400_000, "1d"],
      [90_061_001, "1d1h1m1s1ms"],
    ];
    for (const [ms, text] of table) {
      expect(formatDuration(ms), String(ms)).to.equal(text);
      expect(parseDuration(text), text).to.equal(ms);
      expect(formatDuration(parseDuration(formatDuration(ms))!)).to.equal(text);
    }
  });

  it("long hostile inputs are rejected quickly (no catastrophic backtracking)", () => {
    const start = performance.now();
    expect(parseDuration(`${"1".repeat(200_000)}x`)).to.equal(undefined);
    expect(parseDuration("1s".repeat(100_000))).to.equal(undefined);
    expect(parseDuration(`${"1s".repeat(100_000)}x`)).to.equal(undefined);
    expect(parseSize(`${"1".repeat(200_000)}x`)).to.equal(undefined);
    expect(performance.now() - start).to.be.below(2_000);
  });
});

describe("sizes", () => {
  const sizes: Array<[number | string, number | undefined]> = [
    [0, 0],
    [1024, 1024],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [1.5, undefined],
    [-1, undefined],
    [2 ** 53, undefined],
    [Number.NaN, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    ["0", 0],
    ["1024", 1024],
    ["1B", 1],
    ["1KB", 1000],
    ["10GB", 10_000_000_000],
    ["1TB", 1e12],
    ["1KiB", 1024],
    ["1.5KiB", 1536],
    ["1MiB", 1_048_576],
    ["1Mi", 1_048_576],
    ["1GiB", 1024 ** 3],
    ["1TiB", 1024 ** 4],
    ["1 MiB", 1_048_576],
    [" 2KB ", 2000],
    ["8191TiB", 8191 * 1024 ** 4],
    ["8192TiB", undefined],
    ["", undefined],
    ["M", undefined],
    ["1M", undefined],
    ["1K", undefined],
    ["1kb", undefined],
    ["1mib", undefined],
    ["1KiBB", undefined],
    ["1iB", undefined],
    ["1e3", undefined],
    ["-1KiB", undefined],
    ["64XB", undefined],
    ["1 bazillion", undefined],
  ];
  for (const [value, bytes] of sizes) {
    it(`${JSON.stringify(value)} → ${bytes === undefined ? "invalid" : `${bytes} bytes`}`, () => {
      expect(parseSize(value)).to.equal(bytes);
    });
  }
});
