import { expect } from "chai";
import { parseDuration, parseSize } from "../../../engine/manifests/durations.js";
import { DURATION_PATTERN, SIZE_PATTERN, commonSchema } from "../../../engine/model/schemas/common.js";

// Durations and sizes carry a `pattern` beside their custom format (`vrsky-duration`, `vrsky-size`), for
// validators and editors that do not know the formats. The pattern checks the syntax the format parses; only
// the format checks magnitudes (at most 366d; a size that comes to whole bytes and fits a safe integer).

const durationPattern = new RegExp(DURATION_PATTERN, "u");
const sizePattern = new RegExp(SIZE_PATTERN, "u");
const durationFormat = (s: string) => parseDuration(s) !== undefined;
const sizeFormat = (s: string) => parseSize(s) !== undefined;
/** The same text with every digit 0: the same syntax, the smallest magnitude. */
const zeroed = (s: string) => s.replace(/[0-9]/g, "0");

/** Every string of up to `max` characters over `alphabet`. */
function* strings(alphabet: string[], max: number): Generator<string> {
  let level = [""];
  yield "";
  for (let n = 1; n <= max; n++) {
    level = level.flatMap((s) => alphabet.map((c) => s + c));
    yield* level;
  }
}

describe("duration and size patterns agree with their formats", () => {
  it("the schemas carry them: common.schema.json's duration and size", () => {
    expect(commonSchema.$defs.duration).to.include({ format: "vrsky-duration", pattern: DURATION_PATTERN });
    expect(commonSchema.$defs.size).to.include({ format: "vrsky-size", pattern: SIZE_PATTERN });
  });

  // [text, accepted by both, or "format" when only the format rejects it (a magnitude)]
  const durations: Array<[string, boolean | "format"]> = [
    ["500ms", true],
    ["30s", true],
    ["5m", true],
    ["1h30m", true],
    ["7d", true],
    ["1.5s", true],
    ["0s", true],
    ["1d2h3m4s5ms", true],
    ["1m5ms", true],
    ["366d", true],
    ["367d", "format"],
    ["8785h", "format"],
    ["99999999d", "format"],
    ["", false],
    ["1", false],
    ["s", false],
    ["ms", false],
    ["1S", false],
    ["1 s", false],
    [" 1s", false],
    ["1s ", false],
    ["-1s", false],
    ["1.s", false],
    [".5s", false],
    ["1e3ms", false],
    ["1s1s", false],
    ["30s1m", false],
    ["1ms1s", false],
    ["1m1h", false],
    ["1w", false],
    ["1us", false],
    ["5 minutes", false],
    ["1ms500", false],
    ["١s", false], // an Arabic-Indic digit: `\d` in some regex dialects, not a digit to VRSky
  ];
  for (const [text, expected] of durations) {
    it(`duration ${JSON.stringify(text)}: ${expected === "format" ? "syntax fine, only the format rejects it" : expected ? "both accept" : "both reject"}`, () => {
      expect(durationPattern.test(text), "pattern").to.equal(expected !== false);
      expect(durationFormat(text), "format").to.equal(expected === true);
    });
  }

  const sizes: Array<[string, boolean | "format"]> = [
    ["1048576", true],
    ["64KiB", true],
    ["1MiB", true],
    ["10GB", true],
    ["1 MB", true],
    [" 2TiB ", true],
    ["512Mi", true],
    ["0", true],
    ["1.5KiB", true],
    ["100B", true],
    ["1.5B", "format"],
    ["0.1", "format"],
    ["99999999999TB", "format"],
    ["", false],
    ["MiB", false],
    ["1K", false],
    ["1kb", false],
    ["1mib", false],
    ["1 M B", false],
    ["1PB", false],
    ["-1", false],
    ["1e6", false],
    ["1,000", false],
    ["1.KiB", false],
    ["1MiBs", false],
    ["٣MiB", false],
  ];
  for (const [text, expected] of sizes) {
    it(`size ${JSON.stringify(text)}: ${expected === "format" ? "syntax fine, only the format rejects it" : expected ? "both accept" : "both reject"}`, () => {
      expect(sizePattern.test(text), "pattern").to.equal(expected !== false);
      expect(sizeFormat(text), "format").to.equal(expected === true);
    });
  }

  // Exhaustively over short strings: the pattern accepts exactly the texts whose syntax the format accepts
  // (the text with every digit 0, which has no magnitude to reject), so it never rejects a good value.
  it("durations: every string of up to 5 characters over 0 1 . d h m s and space", () => {
    let accepted = 0;
    for (const s of strings(["0", "1", ".", "d", "h", "m", "s", " "], 5)) {
      expect(durationPattern.test(s), JSON.stringify(s)).to.equal(durationFormat(zeroed(s)));
      if (durationFormat(s)) expect(durationPattern.test(s), JSON.stringify(s)).to.equal(true);
      if (durationPattern.test(s)) accepted++;
    }
    // The count when the pattern was written: a pattern that accepted next to nothing (or far more) shows here.
    expect(accepted).to.equal(354);
  });

  it("sizes: every string of up to 5 characters over 0 1 . K M T i B and space", () => {
    let accepted = 0;
    for (const s of strings(["0", "1", ".", "K", "M", "T", "i", "B", " "], 5)) {
      expect(sizePattern.test(s), JSON.stringify(s)).to.equal(sizeFormat(zeroed(s)));
      if (sizeFormat(s)) expect(sizePattern.test(s), JSON.stringify(s)).to.equal(true);
      if (sizePattern.test(s)) accepted++;
    }
    expect(accepted).to.equal(802);
  });
});
