/** Bounds that keep hostile input from costing more than a normal repository. */
export interface InputLimits {
  /** Largest manifest file, in bytes. */
  maxFileBytes: number;
  /** Deepest nesting of mappings and sequences in one document. */
  maxDepth: number;
  /** Alias expansions allowed in one document (YAML "billion laughs"). */
  maxAliasCount: number;
  /** Documents in one file. */
  maxDocumentsPerFile: number;
  /** Manifest files in one revision. */
  maxFiles: number;
}

export const DEFAULT_LIMITS: InputLimits = {
  maxFileBytes: 256 * 1024,
  maxDepth: 32,
  maxAliasCount: 50,
  maxDocumentsPerFile: 100,
  maxFiles: 100_000,
};
