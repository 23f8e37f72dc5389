import { CODES } from "../errors/codes.js";
import type { Finding } from "../errors/finding.js";
import { printable } from "../text/printable.js";

export type Stream =
  NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; writeBytes?: (b: Uint8Array) => boolean };

/** Bytes as they are (a message body into a file); a stream that takes only text gets them as UTF-8 text. */
export function writeBytes(stream: Stream, bytes: Uint8Array): void {
  if ("writeBytes" in stream && typeof stream.writeBytes === "function") stream.writeBytes(bytes);
  else if ("fd" in stream) (stream as NodeJS.WriteStream).write(bytes);
  else stream.write(Buffer.from(bytes).toString("utf8"));
}

/** Colour only on a terminal, and never when NO_COLOR is set. */
export function useColor(stream: Stream): boolean {
  return Boolean(stream.isTTY) && !("NO_COLOR" in process.env) && process.env.TERM !== "dumb";
}

export function paint(on: boolean, code: number, s: string): string {
  return on ? `\u001b[${code}m${s}\u001b[0m` : s;
}

/**
 * `file:line:column  CODE  message` and, indented, what to do. File names and messages come from a commit (or from
 * KV): their control characters are escaped.
 */
export function renderFindings(findings: Finding[], color: boolean): string {
  const lines: string[] = [];
  for (const f of findings) {
    const at = `${printable(f.file)}:${f.line}:${f.column}`;
    lines.push(`${paint(color, 1, at)}  ${paint(color, 31, printable(f.code))}  ${printable(f.message)}`);
    lines.push(`    ${paint(color, 2, `fix: ${CODES[f.code].hint}`)}`);
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/**
 * Progress on a terminal's stderr; silent when stderr is not a TTY (CI logs, pipes). With `afterMs`, nothing shows
 * until the work has taken that long (a quick command never flickers).
 */
export class Progress {
  private readonly on: boolean;
  private last = 0;
  private shown = false;
  private readonly start = Date.now();
  constructor(
    private readonly stream: Stream = process.stderr,
    private readonly afterMs = 0,
  ) {
    this.on = Boolean(stream.isTTY);
  }
  step(text: string): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 80 || now - this.start < this.afterMs) return;
    this.last = now;
    this.shown = true;
    this.stream.write(`\r\u001b[2K${text}`);
  }
  done(): void {
    if (this.on && (this.shown || this.afterMs === 0)) this.stream.write("\r\u001b[2K");
    this.shown = false;
  }
}
