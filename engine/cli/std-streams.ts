/**
 * Standard output or error as the CLI writes to it. When the reader goes away (`vrsky validate | head`: EPIPE) the
 * stream stops writing and the command carries on to its own result: a closed pipe is the reader's choice, and it
 * must never turn a failure into exit code 0 (that would hide it under `set -o pipefail`). Any other write error
 * (a full disk under `> file`) means the output is lost: `failure` holds it, and the command must not exit 0 or 1.
 */
export class StdStream {
  /** The reader closed the pipe: nothing more is written. */
  closed = false;
  /** A write failed for another reason. */
  failure: NodeJS.ErrnoException | undefined;

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") this.closed = true;
      // After the first error the stream is destroyed; later writes report that, which is no news.
      else if (!this.closed && !this.failure && e.code !== "ERR_STREAM_DESTROYED") this.failure = e;
    });
  }

  get isTTY(): boolean {
    return Boolean(this.stream.isTTY);
  }

  write(text: string): boolean {
    if (this.closed || this.failure) return true;
    return this.stream.write(text);
  }

  /** Bytes as they are (a message body). */
  writeBytes(bytes: Uint8Array): boolean {
    if (this.closed || this.failure) return true;
    return this.stream.write(bytes);
  }
}

/**
 * The process's exit code: the command's own, unless its output could not be written (other than a closed pipe),
 * which is an environment error (2); a signal's code (130, 143) or an internal error's (70) stays.
 */
export function exitCodeAfterWrites(code: number, streams: StdStream[]): number {
  return code <= 1 && streams.some((s) => s.failure) ? 2 : code;
}
