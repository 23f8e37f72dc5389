import { expect } from "chai";
import { hostname } from "node:os";
import {
  DEFAULT_EVENT_LEVEL,
  EVENT_LEVELS,
  levelOf,
  messageOf,
  type LogLevel,
} from "../../../engine/cli/log/event-levels.js";
import { eventLog, logSettings, type LogSettings } from "../../../engine/cli/log/event-log.js";
import { isVrskyError } from "../../../engine/errors/errors.js";

/** A stderr stand-in that keeps what was written. */
function sink(isTTY = false): { write(s: string): boolean; isTTY: boolean; text: string } {
  const s = { isTTY, text: "", write: (t: string) => ((s.text += t), true) };
  return s;
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const JSON_AT = (level: LogLevel): LogSettings => ({ level, format: "json" });

/** A seed's shape (S, the user role, 56 base32 characters): what the redaction must catch. */
const SEED = `SU${"A".repeat(56)}`;

describe("cli: event log levels (one table)", () => {
  it("each event has its level and message from the table; an unknown event is info, named by itself", () => {
    expect(levelOf("registered")).to.equal("info");
    expect(levelOf("worker-expired")).to.equal("warn");
    expect(levelOf("request-failed")).to.equal("error");
    expect(levelOf("flow-started")).to.equal("debug");
    expect(messageOf("replica-running")).to.equal("replica running");
    expect(DEFAULT_EVENT_LEVEL).to.equal("info");
    expect(levelOf("something-new")).to.equal("info");
    expect(messageOf("something-new")).to.equal("something-new");
    expect(levelOf("toString"), "no inherited property is an event").to.equal("info");
  });

  it("a run's level follows its outcome; a stalled replica failure is an error", () => {
    expect(levelOf("run", { outcome: "Applied" })).to.equal("info");
    expect(levelOf("run", { outcome: "NoChange" })).to.equal("info");
    for (const o of ["Invalid", "DeletionGuard", "Conflict", "LostLeadership"])
      expect(levelOf("run", { outcome: o }), o).to.equal("warn");
    expect(levelOf("run", { outcome: "Failed" })).to.equal("error");
    expect(levelOf("replica-failed", { retryInMs: 1000 })).to.equal("warn");
    expect(levelOf("replica-failed", { retryInMs: null, stalled: true })).to.equal("error");
  });

  it("the events tests and operators watch for are logged at the default level", () => {
    const lifecycle = ["run", "leader", "standby", "registered", "replica-running", "replica-stopped", "ready"];
    for (const e of [...lifecycle, "worker-expired", "fenced", "drained", "deregistered", "stopping", "listening"])
      expect(["info", "warn", "error"], e).to.include(levelOf(e, { outcome: "Applied" }));
  });
});

describe("cli: LOG_LEVEL and LOG_FORMAT", () => {
  it("defaults: info; pretty on a terminal, JSON otherwise", () => {
    expect(logSettings({}, sink(false))).to.deep.equal({ level: "info", format: "json" });
    expect(logSettings({}, sink(true))).to.deep.equal({ level: "info", format: "pretty" });
    expect(logSettings({ LOG_LEVEL: "", LOG_FORMAT: "" }, sink(false))).to.deep.equal({
      level: "info",
      format: "json",
    });
  });

  it("takes every level in any case, and LOG_FORMAT json or pretty whatever the stream is", () => {
    for (const l of ["trace", "debug", "info", "warn", "error"])
      expect(logSettings({ LOG_LEVEL: l.toUpperCase() }, sink()).level).to.equal(l);
    expect(logSettings({ LOG_FORMAT: "json" }, sink(true)).format).to.equal("json");
    expect(logSettings({ LOG_FORMAT: "pretty" }, sink(false)).format).to.equal("pretty");
  });

  it("a bad value is a usage error naming the variable and the values it takes", () => {
    const fail = (env: NodeJS.ProcessEnv): Error => {
      try {
        logSettings(env, sink());
      } catch (e) {
        return e as Error;
      }
      throw new Error(`accepted ${JSON.stringify(env)}`);
    };
    const level = fail({ LOG_LEVEL: "verbose" });
    expect(isVrskyError(level) && level.code).to.equal("VRS_USAGE");
    expect(level.message).to.equal("LOG_LEVEL must be one of trace, debug, info, warn, error, not 'verbose'");
    const format = fail({ LOG_FORMAT: "yaml" });
    expect(isVrskyError(format) && format.code).to.equal("VRS_USAGE");
    expect(format.message).to.match(/^LOG_FORMAT must be json or pretty .*not 'yaml'$/);
    expect(fail({ LOG_LEVEL: "fatal" }).message).to.match(/^LOG_LEVEL /);
    expect(fail({ LOG_LEVEL: "\u001b[2J" }).message, "escaped").to.contain("\\x1b[2J");
  });
});

describe("cli: event log lines", () => {
  it("JSON: level, time, pid, hostname, name, then the event and its fields as given, then msg", () => {
    const s = sink();
    eventLog(s, "worker", JSON_AT("info"))("stopping", { signal: "SIGTERM" });
    expect(s.text.endsWith("\n")).to.equal(true);
    const [line, ...more] = jsonLines(s.text);
    expect(more).to.deep.equal([]);
    expect(Object.keys(line!)).to.deep.equal(["level", "time", "pid", "hostname", "name", "event", "signal", "msg"]);
    expect(line).to.include({
      level: "info",
      pid: process.pid,
      hostname: hostname(),
      name: "worker",
      event: "stopping",
      signal: "SIGTERM",
      msg: "stopping on a signal",
    });
    expect(new Date(line!.time as string).toISOString()).to.equal(line!.time);
    // Tools match the event and its first field as text: they must stay side by side.
    expect(s.text).to.contain('"event":"stopping","signal":"SIGTERM"');
  });

  it("LOG_LEVEL filters: below it nothing is written", () => {
    const at = (level: LogLevel): string[] => {
      const s = sink();
      const log = eventLog(s, "reconciler", JSON_AT(level));
      log("flow-started", { key: "acme.a.0" });
      log("run", { outcome: "Applied" });
      log("worker-expired", { worker: "w1" });
      log("run", { outcome: "Failed" });
      return jsonLines(s.text).map((l) => `${String(l.level)} ${String(l.event)}`);
    };
    const all = ["debug flow-started", "info run", "warn worker-expired", "error run"];
    expect(at("trace")).to.deep.equal(all);
    expect(at("debug")).to.deep.equal(all);
    expect(at("info")).to.deep.equal(all.slice(1));
    expect(at("warn")).to.deep.equal(all.slice(2));
    expect(at("error")).to.deep.equal(all.slice(3));
  });

  it("a field named like a key of the line is kept apart; nkey seeds are redacted in every string", () => {
    const s = sink();
    eventLog(
      s,
      "gateway",
      JSON_AT("info"),
    )("request-failed", {
      name: "x",
      msg: "m",
      event: "e",
      level: 1,
      nested: { list: [`creds ${SEED}`], [SEED]: 1 },
      error: `bad seed ${SEED} here`,
    });
    const [line] = jsonLines(s.text);
    expect(line).to.include({ name: "gateway", event: "request-failed", level: "error" });
    expect(line).to.include({ field_name: "x", field_msg: "m", field_event: "e", field_level: 1 });
    expect(line!.error).to.equal("bad seed [seed redacted] here");
    expect(s.text).to.not.contain(SEED);
  });

  it("pretty: one readable line per event, control characters escaped, no colour off a terminal", () => {
    const s = sink(false);
    const log = eventLog(s, "gateway", { level: "info", format: "pretty" });
    log("ready", { url: "http://127.0.0.1:8080" });
    log("request-failed", { error: `\u001b[2J wiped ${SEED}` });
    const lines = s.text.split("\n").filter((l) => l !== "");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(gateway\): gateway ready \{"event":"ready",/);
    expect(lines[1]).to.match(/ERROR \(gateway\): unexpected error answering a request: 500 /);
    expect(s.text).to.not.match(/[\u0000-\u0009\u000b-\u001f]/);
    expect(s.text).to.contain("[seed redacted]");
  });

  it("pretty on a terminal is coloured, unless NO_COLOR is set", () => {
    const had = "NO_COLOR" in process.env;
    const saved = process.env.NO_COLOR;
    try {
      delete process.env.NO_COLOR;
      const tty = sink(true);
      eventLog(tty, "worker", { level: "info", format: "pretty" })("registered", { worker: "w1" });
      expect(tty.text).to.contain("\u001b[");
      process.env.NO_COLOR = "";
      const plain = sink(true);
      eventLog(plain, "worker", { level: "info", format: "pretty" })("registered", { worker: "w1" });
      expect(plain.text).to.not.contain("\u001b[");
    } finally {
      if (had) process.env.NO_COLOR = saved;
      else delete process.env.NO_COLOR;
    }
  });

  it("every row of the table has a level of the five and a message", () => {
    for (const [event, row] of Object.entries(EVENT_LEVELS)) {
      expect(["trace", "debug", "info", "warn", "error"], event).to.include(row.level);
      expect(row.msg.length, event).to.be.within(3, 80);
    }
  });
});
