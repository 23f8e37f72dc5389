/**
 * A private PostgreSQL cluster per test file (engine/demo/postgres-cluster.ts: initdb into a temporary directory,
 * `wal_level=logical`, 127.0.0.1 on a free port, as the `postgres` user through runuser when we are root), stopped
 * and removed on teardown. `.ci/run` installs the server binaries when missing.
 *
 * The cluster has a superuser `postgres` and a user `vrsky` with LOGIN and REPLICATION, both with passwords over
 * TCP (scram-sha-256), and a database `shop` owned by `vrsky`.
 */
import { PostgresCluster } from "../../engine/demo/postgres-cluster.js";

export { postgresBinDir } from "../../engine/demo/postgres-cluster.js";

export const PG_USER = "vrsky";
export const PG_PASSWORD = "vrsky-test-password";
export const PG_DATABASE = "shop";
const SUPERUSER_PASSWORD = "postgres-test-password";

export class TestPostgres extends PostgresCluster {
  constructor() {
    super({ user: PG_USER, password: PG_PASSWORD, database: PG_DATABASE, superuserPassword: SUPERUSER_PASSWORD });
  }

  /** How the connectors reach the server as `vrsky` (the password through the secret `shop-db`). */
  connectorConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      host: "127.0.0.1",
      port: this.port,
      database: PG_DATABASE,
      user: PG_USER,
      secretRef: "shop-db",
      sslmode: "disable",
      ...extra,
    };
  }
}

/** A cluster for the test file: started in `before`, stopped and removed in `after`. */
export function usePostgres(): TestPostgres {
  const box: { pg?: TestPostgres } = {};
  before(async function () {
    this.timeout(60_000);
    box.pg = new TestPostgres();
    await box.pg.start();
  });
  after(async function () {
    this.timeout(30_000);
    await box.pg?.cleanup();
  });
  return new Proxy({} as TestPostgres, {
    get(_t, prop) {
      if (!box.pg) throw new Error("the PostgreSQL fixture is not started yet: use it in hooks and tests");
      const v = Reflect.get(box.pg, prop, box.pg) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(box.pg) : v;
    },
  });
}
