/** `--name N` from the command line: a whole number of at least `min`, or `dflt` when the option is absent. */
export function intOption(argv: readonly string[], name: string, dflt: number, min = 1): number {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} needs a whole number >= ${min}`);
  return v;
}
