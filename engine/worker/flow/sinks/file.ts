/**
 * The `file` sink at run time: writes each message to `<directory>/<filename>` under the tenant's root, atomically:
 * the bytes go to a temporary name in the same directory, are synced, the file is renamed over the final name (an
 * existing file of that name is replaced, so a redelivery writes the same file again), and the directory is synced.
 * A reader never sees half a file; after a crash there is the old file or the new one, never a mix.
 *
 * `format: json`: the body as JSON text (a text body becomes a JSON string). `format: raw`: the body's own bytes
 * (JSON text for a JSON content type, the text itself otherwise). The directory is checked (and made) when the
 * sink opens; a `filename` that renders to anything but a plain name (a `/`, `..`, a leading `.`) is
 * VRS_SINK_REJECTED, a failed write VRS_SINK_UNAVAILABLE (retried).
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../../../errors/errors.js";
import { encodeBody } from "../../../pipeline/codec.js";
import { compileTemplate, type Template } from "../../../pipeline/template.js";
import { directoryUnderRoot } from "../file-root.js";
import type { SinkDelivery, SinkFactory, SinkOutcome, SinkRuntime } from "../types.js";

/** The longest file name most file systems take, in bytes. */
const MAX_NAME_BYTES = 255;
const encoder = new TextEncoder();

export const fileSink: SinkFactory = async (config, env) => {
  if (typeof config.directory !== "string") throw new Error("the file sink has no directory");
  const directory = await directoryUnderRoot(env.fileRoot, config.directory, "config.directory");
  const filename = compileTemplate(typeof config.filename === "string" ? config.filename : "{{ attributes.id }}.json", [
    "config",
    "filename",
  ]);
  return new FileSinkRuntime(directory, filename, config.format === "raw" ? "raw" : "json");
};

/** Why `name` is not a plain file name, or undefined when it is one. */
export function badFileName(name: string): string | undefined {
  if (name === "") return "it is empty";
  if (/[/\\\0]/.test(name)) return "it holds a '/', '\\' or NUL";
  if (name.startsWith(".")) return "it starts with '.' (hidden files and '..' are not written)";
  if (encoder.encode(name).length > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

class FileSinkRuntime implements SinkRuntime {
  constructor(
    private readonly directory: string,
    private readonly filename: Template,
    private readonly format: "json" | "raw",
  ) {}

  async send(d: SinkDelivery): Promise<SinkOutcome> {
    if (d.signal.aborted) return this.unavailable("delivery abandoned, the replica is stopping");
    let name: string;
    let bytes: Uint8Array;
    try {
      name = this.filename(d.message);
      bytes = this.format === "raw" ? encodeBody(d.message) : encoder.encode(JSON.stringify(d.message.body));
    } catch (e) {
      return { ok: false, code: "VRS_SINK_REJECTED", error: `config.filename: ${errorMessage(e)}` };
    }
    const bad = badFileName(name);
    if (bad) {
      const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
      return { ok: false, code: "VRS_SINK_REJECTED", error: `config.filename renders to ${shown}: ${bad}` };
    }
    try {
      await writeAtomically(this.directory, name, bytes);
      return { ok: true };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EISDIR" || code === "ENAMETOOLONG")
        return { ok: false, code: "VRS_SINK_REJECTED", error: `${name}: ${errorMessage(e)}` };
      return this.unavailable(`${name}: ${errorMessage(e)}`);
    }
  }

  async close(): Promise<void> {}

  private unavailable(why: string): SinkOutcome {
    return { ok: false, code: "VRS_SINK_UNAVAILABLE", error: `file ${this.directory}: ${why}` };
  }
}

/** Temporary name, write, fsync, rename over `name`, fsync the directory. The temporary file never stays. */
export async function writeAtomically(directory: string, name: string, bytes: Uint8Array): Promise<void> {
  const temp = join(directory, `.${name.slice(0, 200)}.${randomBytes(6).toString("hex")}.tmp`);
  const file = await open(temp, "wx", 0o644);
  try {
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, join(directory, name));
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await syncDirectory(directory);
}

/** Makes a rename in `directory` durable. */
export async function syncDirectory(directory: string): Promise<void> {
  const dir = await open(directory, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
