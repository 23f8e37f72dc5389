import { inspect } from "node:util";

const REDACTED = "[secret]";

/**
 * The value of a secret. It prints, serialises and converts to a string as `[secret]`, so that logging a message,
 * a status or an error that happens to hold one never shows it; the value comes out only through `reveal()` or
 * `revealText()`, which a reader can search for.
 */
export class SecretValue {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = Uint8Array.from(bytes);
  }

  /** Size in bytes (not secret: files on disk show it too). */
  get length(): number {
    return this.#bytes.length;
  }

  /** A copy of the bytes, so that a caller that wipes or changes its copy leaves this value intact. */
  reveal(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }

  /** The bytes as UTF-8 text (a password, a token). */
  revealText(): string {
    return Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength).toString("utf8");
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
