/**
 * Text from outside (a message body, a header, a committed name) made safe to print on a terminal: control
 * characters, including the escape that starts terminal control sequences, are shown as `\n`, `\t`, `\xNN` or
 * `\u{NNNN}` instead of acting.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

export function escapeControl(text: string): string {
  return text.replace(CONTROL, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}
