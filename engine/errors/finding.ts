import type { Code } from "./codes.js";

/** A problem in the manifests of a revision, located in a file. The JSON form is part of the CLI contract. */
export interface Finding {
  file: string;
  line: number;
  column: number;
  /** JSON path of the field, e.g. `spec.sinks[0].config.url`; empty for the whole document. */
  path: string;
  code: Code;
  message: string;
}

/** A finding before it knows its file: parse results are cached by blob id and shared between paths. */
export type FileFinding = Omit<Finding, "file">;

export function compareFindings(a: Finding, b: Finding): number {
  return (
    (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
    a.line - b.line ||
    a.column - b.column ||
    (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) ||
    (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}
