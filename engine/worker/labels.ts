/**
 * Parses `k=v,k2=v2`, the worker's `--labels` flag (what pinned tenants are matched against,
 * `spec.placement.workerLabels`). Returns an error message for a malformed pair.
 */
export function parseLabels(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=");
    const k = pair.slice(0, eq).trim();
    const v = pair.slice(eq + 1).trim();
    if (eq <= 0 || !/^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$/i.test(k) || !/^[A-Za-z0-9._-]{0,63}$/.test(v)) {
      return `'${pair}' is not a label; write key=value pairs separated by commas (e.g. zone=eu,pool=dedicated)`;
    }
    if (k in out) return `label '${k}' is given twice`;
    out[k] = v;
  }
  return out;
}
