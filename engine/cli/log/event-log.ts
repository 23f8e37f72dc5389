import { hostname } from "node:os";
import { pino, stdTimeFunctions } from "pino";
import { prettyFactory } from "pino-pretty";
import { redactSeeds } from "../../errors/errors.js";
import { VrskyError } from "../../errors/errors.js";
import { printable } from "../../text/printable.js";
import { useColor, type Stream } from "../output.js";
import { LOG_LEVELS, levelOf, messageOf, type LogLevel } from "./event-levels.js";

/** How the engine logs an event: its name and its fields (the signature every component takes). */
export type EventLog = (event: string, fields?: Record<string, unknown>) => void;

export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
}

/**
 * `LOG_LEVEL` (default `info`) and `LOG_FORMAT` (`json`, `pretty`; default: pretty on a terminal, JSON otherwise)
 * from the environment. A value that is not one of them is a usage error naming the variable: a typo must not
 * silently log everything or nothing.
 */
export function logSettings(env: NodeJS.ProcessEnv, stream: Stream): LogSettings {
  const level = (env.LOG_LEVEL ?? "").trim().toLowerCase() || "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new VrskyError(
      "VRS_USAGE",
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, not '${printable(env.LOG_LEVEL ?? "")}'`,
    );
  const format = (env.LOG_FORMAT ?? "").trim().toLowerCase();
  if (format !== "" && !(LOG_FORMATS as readonly string[]).includes(format))
    throw new VrskyError(
      "VRS_USAGE",
      `LOG_FORMAT must be ${LOG_FORMATS.join(" or ")} (or unset: pretty on a terminal), not '${printable(env.LOG_FORMAT ?? "")}'`,
    );
  return {
    level: level as LogLevel,
    format: (format || (stream.isTTY ? "pretty" : "json")) as LogFormat,
  };
}

/** Keys of the line itself: an event field of the same name is written as `field_<name>` instead. */
const LINE_KEYS = new Set(["level", "time", "msg", "pid", "hostname", "name", "event"]);

/**
 * The log of one component (`name`: reconciler, worker, gateway): one line per event on `stream`, as JSON (pino's
 * `level`, `time`, `pid`, `hostname`, `name`, then `event` and the event's fields, then `msg`) or pretty-printed
 * for a terminal. Each event's level comes from the table in event-levels.ts; an event below `settings.level` is
 * dropped before any work. Writes are synchronous: nothing logged is lost when the process exits.
 */
export function eventLog(stream: Stream, name: string, settings: LogSettings): EventLog {
  const pretty = settings.format === "pretty";
  const render = pretty
    ? prettyFactory({
        colorize: useColor(stream),
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname",
        singleLine: true,
        // `error` is a text field here, not an Error: on the same line as the rest.
        errorLikeObjectKeys: [],
      })
    : undefined;
  const logger = pino(
    {
      name,
      level: settings.level,
      base: { pid: process.pid, hostname: hostname() },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (line: string) => void stream.write(render ? render(line) : line) },
  );
  // Never a secret: seeds are replaced in every string; on a terminal, control characters are escaped too.
  const clean = pretty ? (s: string) => printable(redactSeeds(s)) : redactSeeds;
  return (event, fields = {}) => {
    const level = levelOf(event, fields);
    if (!logger.isLevelEnabled(level)) return;
    const line: Record<string, unknown> = { event };
    for (const [k, v] of Object.entries(fields)) line[LINE_KEYS.has(k) ? `field_${k}` : k] = cleanDeep(v, clean);
    logger[level](line, messageOf(event));
  };
}

function cleanDeep(value: unknown, clean: (s: string) => string, depth = 0): unknown {
  if (typeof value === "string") return clean(value);
  if (value === null || typeof value !== "object" || depth > 8) return value;
  if (Array.isArray(value)) return value.map((v) => cleanDeep(v, clean, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), cleanDeep(v, clean, depth + 1)]));
}

/** A command's log of `name` on standard error, with the settings of the environment (checked: see logSettings). */
export function commandLog(ctx: { stderr: Stream }, name: string, env: NodeJS.ProcessEnv = process.env): EventLog {
  return eventLog(ctx.stderr, name, logSettings(env, ctx.stderr));
}
