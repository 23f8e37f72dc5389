/**
 * The floors of connectors.bench.ts, each the least work that does the same job with the same libraries:
 *
 * - COPY: the CSV file streamed into the table by `COPY … FROM STDIN (FORMAT csv, HEADER true)` (pg-copy-streams);
 * - batched insert: the file's rows read with the same csv-parse, upserted by a plain `pg` loop, `batch` rows per
 *   `INSERT … ON CONFLICT (sku) DO UPDATE`, one transaction per batch (the sink's shape without the pipeline);
 * - slot alone: pg-logical-replication reading the slot with pgoutput, nothing done with the changes, nothing
 *   acknowledged (the slot stays where it was, for the pipeline to read the same changes after it).
 */
import { createReadStream, readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { performance } from "node:perf_hooks";
import { parse } from "csv-parse/sync";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { LogicalReplicationService, PgoutputPlugin } from "pg-logical-replication";

export const PRODUCT_COLUMNS = ["sku", "name", "price", "stock"] as const;

/** `rows` products as CSV text with a header row. */
export function productsCsv(rows: number, seed = 0): string {
  const lines = [PRODUCT_COLUMNS.join(",")];
  for (let i = 0; i < rows; i++)
    lines.push(`S-${String(i).padStart(7, "0")},item ${i} of run ${seed},${(i % 997) + 0.5},${(i + seed) % 50}`);
  return `${lines.join("\n")}\n`;
}

/** COPY of the file into `table`; rows per second. */
export async function copyLoad(client: pg.Client, table: string, file: string, rows: number): Promise<number> {
  const t0 = performance.now();
  const sql = `COPY ${table} (${PRODUCT_COLUMNS.join(", ")}) FROM STDIN WITH (FORMAT csv, HEADER true)`;
  await pipeline(createReadStream(file), client.query(copyFrom(sql)));
  return rows / ((performance.now() - t0) / 1000);
}

/** The file's rows upserted `batch` at a time, a transaction per batch; rows per second. */
export async function insertLoop(client: pg.Client, table: string, file: string, batch: number): Promise<number> {
  const t0 = performance.now();
  const records = parse(readFileSync(file, "utf8"), { columns: true }) as Array<Record<string, string>>;
  const cols = PRODUCT_COLUMNS.length;
  for (let i = 0; i < records.length; i += batch) {
    const part = records.slice(i, i + batch);
    const params: string[] = [];
    const tuples = part.map((r, k) => {
      for (const c of PRODUCT_COLUMNS) params.push(r[c]!);
      return `(${PRODUCT_COLUMNS.map((_c, j) => `$${k * cols + j + 1}`).join(", ")})`;
    });
    await client.query("BEGIN");
    await client.query(
      `INSERT INTO ${table} (${PRODUCT_COLUMNS.join(", ")}) VALUES ${tuples.join(", ")} ON CONFLICT (sku) DO UPDATE ` +
        `SET name = EXCLUDED.name, price = EXCLUDED.price, stock = EXCLUDED.stock`,
      params,
    );
    await client.query("COMMIT");
  }
  return records.length / ((performance.now() - t0) / 1000);
}

/** Reads `changes` inserts from `slot` with pg-logical-replication and nothing else; changes per second. */
export async function slotRead(
  config: pg.ClientConfig,
  slot: string,
  publication: string,
  changes: number,
  timeoutMs: number,
): Promise<number> {
  const service = new LogicalReplicationService(config, { acknowledge: { auto: false, timeoutSeconds: 0 } });
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });
  let seen = 0;
  const t0 = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`slot read: ${seen} of ${changes} after ${timeoutMs} ms`)),
        timeoutMs,
      );
      service.on("data", (_lsn: string, m: { tag: string }) => {
        if (m.tag === "insert" && ++seen === changes) {
          clearTimeout(timer);
          resolve();
        }
      });
      service.on("error", reject);
      service.subscribe(plugin, slot).catch(reject);
    });
    return changes / ((performance.now() - t0) / 1000);
  } finally {
    await service.stop().catch(() => undefined);
  }
}
