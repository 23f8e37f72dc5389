/**
 * HTML from text read from outside (names, messages and paths from a commit or a KV record): every interpolated
 * value is escaped unless it is HTML this module built. Control characters and bidirectional overrides become
 * visible escapes first (printable.ts), so a name cannot reorder or hide what the page shows around it.
 */
import { printableBlock } from "./printable.js";

/** HTML built by `html` (or `raw`): inserted as it is when interpolated into `html`. */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an element's content or a quoted attribute value: `& < > " '` escaped, controls but newlines and tabs made visible. */
export function escapeHtml(text: string): string {
  return printableBlock(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function part(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.text;
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(part).join("");
  if (v === null || v === undefined || v === false) return "";
  return escapeHtml(String(v));
}

/**
 * A template tag: `html\`<td>${name}</td>\`` escapes `name`; nested `html` results and arrays of them are kept.
 * `null`, `undefined` and `false` render nothing, so `${cond && html\`…\`}` works.
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += part(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** HTML written in this code base (a style sheet, a script), never text from outside. */
export function raw(text: string): SafeHtml {
  return new SafeHtml(text);
}
