/** Durations (`500ms`, `30s`, `1h30m`, `7d`) and sizes (`1MiB`, `10GB`, 1048576): parsed once, here. */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Units at most once each, largest first: `1h30m`, `1.5s`, `250ms`; not `1m1m` or `30s1m`. */
const DURATION =
  /^(?=.)(?:\d+(?:\.\d+)?d)?(?:\d+(?:\.\d+)?h)?(?:\d+(?:\.\d+)?m(?!s))?(?:\d+(?:\.\d+)?s)?(?:\d+(?:\.\d+)?ms)?$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const MAX_DURATION_MS = 366 * 86_400_000;

/** Milliseconds, or undefined when the text is not a duration VRSky accepts. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  ms = Math.round(ms);
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/** The shortest canonical text of a duration: 90000 → `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?$/;

/** Bytes, or undefined when the value is not a size VRSky accepts. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE.exec(value.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[m[2] ?? ""];
  if (unit === undefined) return undefined;
  // Fractions are fine when they come to whole bytes (1.5KiB = 1536), not otherwise (1.5B).
  const raw = Number(m[1]) * unit;
  const bytes = Math.round(raw);
  return Number.isSafeInteger(bytes) && Math.abs(raw - bytes) < 1e-6 ? bytes : undefined;
}
