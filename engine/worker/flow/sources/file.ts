/**
 * The `file` source at run time. Every `pollInterval` it lists `directory` (under the tenant's root) for regular
 * files whose name matches `pattern` (hidden names, links and folders are never picked). A file is taken only
 * once it is stable: the same size and modification time in two polls in a row, or, at first sight, a modification
 * time at least one pollInterval old (nothing wrote it for as long as two polls would prove: a file written
 * elsewhere and renamed in is taken at the first poll). It is then claimed by an atomic
 * rename into `.vrsky/claims/<replica>/` inside the directory: of several replicas (or workers) that see the same
 * file, one rename wins and the others find it gone, so a file is read by one of them.
 *
 * A claimed file is read (file-format.ts: a message per line, per CSV chunk, or the whole file) and each message
 * persisted into the ingest stream, retried while the stream is unavailable. Only once all are stored does
 * `afterRead` happen: `move` to `moveTo` (an existing name there gets `.<file id>` added), `delete`, or `keep`: a
 * record `.vrsky/read/<name>` (size, modification time) is written and the file renamed back, and a file whose
 * record matches is not read again (one that changed is). A replica that stops or crashes mid-file leaves it
 * claimed and reads it again when it starts (at least once; the same message ids, de-duplicated by the ingest
 * stream within its window); replica 0 also takes over the claims of replicas beyond the integration's count.
 */
import { copyFile, lstat, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../../../errors/errors.js";
import { parseDuration } from "../../../manifests/durations.js";
import type { IngestEnvelope } from "../../../dataplane/wire.js";
import { directoryUnderRoot } from "../file-root.js";
import { syncDirectory, writeAtomically } from "../sinks/file.js";
import type { SourceEnv, SourceFactory, SourceRuntime } from "../types.js";
import { fileId, fileMessages, FileRefused, globToRegExp, type FileFacts, type FileFormat } from "./file-format.js";
import { WakeablePauses } from "../../../util/wakeable-pauses.js";

/** The source's own folder inside `directory` (hidden: never picked up). */
export const STATE_DIR = ".vrsky";
/** Messages stored concurrently. */
const WINDOW = 128;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;

export interface FileSourceConfig {
  directory: string;
  pattern: RegExp;
  pollMs: number;
  format: FileFormat;
  afterRead: "move" | "delete" | "keep";
  moveTo?: string;
}

export const fileSource: SourceFactory = async (config, env) => {
  const pollMs = parseDuration(typeof config.pollInterval === "string" ? config.pollInterval : "5s");
  if (pollMs === undefined || pollMs <= 0) throw new Error("the file source has no valid pollInterval");
  if (typeof config.directory !== "string") throw new Error("the file source has no directory");
  const afterRead = config.afterRead === "delete" || config.afterRead === "keep" ? config.afterRead : "move";
  if (afterRead === "move" && typeof config.moveTo !== "string")
    throw new Error("the file source moves files after reading them (afterRead: move) but has no moveTo");
  const directory = await directoryUnderRoot(env.fileRoot, config.directory, "config.directory");
  const moveTo =
    afterRead === "move" ? await directoryUnderRoot(env.fileRoot, String(config.moveTo), "config.moveTo") : undefined;
  const c: FileSourceConfig = {
    directory,
    pattern: globToRegExp(typeof config.pattern === "string" ? config.pattern : "*"),
    pollMs,
    format: (typeof config.format === "string" ? config.format : "text") as FileFormat,
    afterRead,
    ...(moveTo ? { moveTo } : {}),
  };
  const source = new FileSource(c, env);
  await source.start();
  return source;
};

export class FileSource implements SourceRuntime {
  /** Names of files read to the end (afterRead done), in order: for tests and logs. */
  readonly read: string[] = [];
  private readonly claims: string;
  private readonly records: string;
  /** Size and modification time of each candidate at the last poll. */
  private seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling: Promise<void> | undefined;
  private readonly pauses = new WakeablePauses();
  private retryLoggedAt = 0;

  constructor(
    private readonly c: FileSourceConfig,
    private readonly env: SourceEnv,
  ) {
    this.claims = join(c.directory, STATE_DIR, "claims");
    this.records = join(c.directory, STATE_DIR, "read");
  }

  /** Makes the source's own folders, then polls now and every pollInterval. */
  async start(): Promise<void> {
    await this.prepare();
    this.schedule(0);
  }

  /** Makes the claims folder of this replica and the records folder (checked like any path under the root). */
  async prepare(): Promise<void> {
    await directoryUnderRoot(this.c.directory, join(STATE_DIR, "claims", String(this.env.replica)), "claims");
    await directoryUnderRoot(this.c.directory, join(STATE_DIR, "read"), "records");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pauses.wakeAll();
    await this.polling;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch((e: unknown) =>
          this.env.log("file-poll-failed", { directory: this.c.directory, error: errorMessage(e) }),
        )
        .finally(() => this.schedule(this.c.pollMs));
    }, ms);
  }

  /** One poll: what this replica holds claimed first (a restart, a failed read), then the stable new files. */
  async poll(): Promise<void> {
    await this.adoptClaims();
    for (const name of await this.names(this.ownClaims())) {
      if (this.stopped) return;
      await this.readClaimed(name);
    }
    let entries;
    try {
      entries = await readdir(this.c.directory, { withFileTypes: true });
    } catch (e) {
      this.env.reportFailure(new Error(`file source: cannot list ${this.c.directory}: ${errorMessage(e)}`));
      return;
    }
    const next = new Map<string, string>();
    const stable: string[] = [];
    const settled = Date.now() - this.c.pollMs;
    for (const e of entries) {
      if (this.stopped) return;
      if (e.name.startsWith(".") || !e.isFile() || !this.c.pattern.test(e.name)) continue;
      const st = await lstat(join(this.c.directory, e.name)).catch(() => undefined);
      if (!st?.isFile()) continue;
      const facts = `${st.size}:${st.mtimeMs}`;
      next.set(e.name, facts);
      const unchanged = this.seen.has(e.name) ? this.seen.get(e.name) === facts : st.mtimeMs <= settled;
      if (unchanged && !(await this.wasRead(e.name, facts))) stable.push(e.name);
    }
    this.seen = next;
    for (const name of stable.sort()) {
      if (this.stopped) return;
      if (await this.claim(name)) await this.readClaimed(name);
    }
  }

  private ownClaims(): string {
    return join(this.claims, String(this.env.replica));
  }

  private async names(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isFile()).map((e) => e.name);
  }

  /** Replica 0 takes over the claims of replicas the integration no longer runs (scaled down). */
  private async adoptClaims(): Promise<void> {
    if (this.env.replica !== 0) return;
    const dirs = await readdir(this.claims, { withFileTypes: true }).catch(() => []);
    for (const d of dirs) {
      const n = Number(d.name);
      if (!d.isDirectory() || !Number.isInteger(n) || n < this.env.replicas) continue;
      for (const name of await this.names(join(this.claims, d.name))) {
        await rename(join(this.claims, d.name, name), join(this.ownClaims(), name)).catch(() => undefined);
      }
    }
  }

  /** Whether `name` with these facts was read before and kept (afterRead: keep). */
  private async wasRead(name: string, facts: string): Promise<boolean> {
    if (this.c.afterRead !== "keep") return false;
    const text = await readFile(join(this.records, name), "utf8").catch(() => undefined);
    if (text === undefined) return false;
    try {
      const r = JSON.parse(text) as { size?: number; mtimeMs?: number };
      return `${r.size}:${r.mtimeMs}` === facts;
    } catch {
      return false;
    }
  }

  /** The atomic rename that makes the file this replica's; false when another took it first. */
  private async claim(name: string): Promise<boolean> {
    try {
      await rename(join(this.c.directory, name), join(this.ownClaims(), name));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw e;
    }
  }

  /** Reads a claimed file to the end, then does afterRead. Stopping midway leaves it claimed. */
  private async readClaimed(name: string): Promise<void> {
    const path = join(this.ownClaims(), name);
    const st = await stat(path);
    const facts: FileFacts = { name, size: st.size, mtimeMs: st.mtimeMs };
    const receivedAt = new Date().toISOString();
    let count = 0;
    // Each message is stored as soon as it is read (the first chunk of a large file flows while the rest is
    // read), WINDOW of them in flight at most; the stream keeps them in the order they were sent.
    const inFlight = new Set<Promise<boolean>>();
    let stored = true;
    try {
      for await (const m of fileMessages(path, facts, this.c.format, receivedAt)) {
        const p: Promise<boolean> = this.persistOne(m).then((ok) => {
          inFlight.delete(p);
          if (!ok) stored = false;
          return ok;
        });
        inFlight.add(p);
        count++;
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
        if (!stored) break;
      }
    } catch (e) {
      await Promise.all(inFlight);
      if (e instanceof FileRefused) return this.setAside(path, name, e.message);
      this.env.log("file-read-failed", { file: name, error: errorMessage(e) });
      return;
    }
    await Promise.all(inFlight);
    if (!stored) return;
    await this.afterRead(path, facts);
    this.read.push(name);
    this.env.log("file-read", { file: name, messages: count, afterRead: this.c.afterRead });
  }

  /** A file that cannot be read goes to `.vrsky/failed/` (once: not claimed again), and says why in the log. */
  private async setAside(path: string, name: string, why: string): Promise<void> {
    const failed = await directoryUnderRoot(this.c.directory, join(STATE_DIR, "failed"), "failed");
    await rename(path, join(failed, name));
    this.env.log("file-set-aside", { file: name, moved: join(failed, name), error: why });
  }

  /** Stores one message, retrying while the stream cannot be reached; false when the source stopped first. */
  private async persistOne(m: IngestEnvelope): Promise<boolean> {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      if (this.stopped) return false;
      const writer = this.env.ingest();
      let error = "no connection to the ingest stream";
      if (writer) {
        try {
          await writer.write(m);
          return true;
        } catch (e) {
          error = errorMessage(e);
        }
      }
      // Once a second at most: a batch waits on the same unavailable stream.
      if (Date.now() - this.retryLoggedAt >= 1_000) {
        this.retryLoggedAt = Date.now();
        this.env.log("file-ingest-retry", { id: m.id, error });
      }
      await this.pause(delay);
    }
  }

  private async afterRead(path: string, facts: FileFacts): Promise<void> {
    const { directory, afterRead, moveTo } = this.c;
    if (afterRead === "delete") {
      await rm(path, { force: true });
      await syncDirectory(this.ownClaims());
      return;
    }
    if (afterRead === "keep") {
      const record = { size: facts.size, mtimeMs: facts.mtimeMs, id: fileId(facts), readAt: new Date().toISOString() };
      await writeAtomically(this.records, facts.name, new TextEncoder().encode(JSON.stringify(record)));
      await rename(path, join(directory, facts.name));
      await syncDirectory(directory);
      return;
    }
    const taken = await lstat(join(moveTo!, facts.name)).then(
      () => true,
      () => false,
    );
    const target = join(moveTo!, taken ? `${facts.name}.${fileId(facts).slice(0, 12)}` : facts.name);
    try {
      await rename(path, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EXDEV") throw e;
      // Another file system: copy, then remove the claim.
      await copyFile(path, target);
      await rm(path, { force: true });
    }
    await syncDirectory(moveTo!);
  }

  private pause(ms: number): Promise<void> {
    return this.pauses.pause(ms);
  }
}
