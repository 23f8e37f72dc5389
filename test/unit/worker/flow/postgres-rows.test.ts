import { expect } from "chai";
import { compileExpression } from "../../../../engine/pipeline/cel.js";
import { MessageFailure } from "../../../../engine/pipeline/failure.js";
import type { JsonValue, Message } from "../../../../engine/pipeline/message.js";
import { quoteIdent, quoteQualified, isTransient } from "../../../../engine/dataplane/postgres-client.js";
import {
  columnsOfError,
  rejection,
  rowOf,
  statementsOf,
  type RowSpec,
} from "../../../../engine/worker/flow/sinks/postgres-rows.js";
import { ChangeFilter, formatLsn, parseLsn } from "../../../../engine/worker/flow/sources/postgres-changes.js";

function message(body: JsonValue): Message {
  return {
    id: "m1",
    body,
    contentType: "application/json",
    headers: {},
    attributes: { id: "m1", source: "http", receivedAt: "2026-01-01T00:00:00.000Z" },
  };
}

describe("postgres sink rows and statements", () => {
  const insert: RowSpec = { table: "public.orders", mode: "insert", key: [] };
  const upsert: RowSpec = { table: "orders", mode: "upsert", key: ["id"] };

  it("quotes identifiers, doubling quotes, and refuses NUL", () => {
    expect(quoteIdent("orders")).to.equal('"orders"');
    expect(quoteIdent('a"b; DROP TABLE x')).to.equal('"a""b; DROP TABLE x"');
    expect(quoteQualified("public.orders")).to.equal('"public"."orders"');
    expect(() => quoteIdent("a\0b")).to.throw(/NUL/);
  });

  it("takes the body's fields, objects and lists as JSON text", () => {
    const row = rowOf(insert, message({ id: 1, doc: { a: [1] }, tags: ["x"], note: null, ok: true }));
    expect(row.columns).to.deep.equal(["id", "doc", "tags", "note", "ok"]);
    expect(row.values).to.deep.equal([1, '{"a":[1]}', '["x"]', null, true]);
  });

  it("evaluates columns expressions, and rejects rows without a body object or a key", () => {
    const spec: RowSpec = {
      ...upsert,
      columns: [
        ["id", compileExpression("body.order.id", ["config", "columns", "id"])],
        ["total", compileExpression("body.order.total * 2.0", ["config", "columns", "total"])],
      ],
    };
    expect(rowOf(spec, message({ order: { id: 7, total: 1.5 } }))).to.deep.equal({
      columns: ["id", "total"],
      values: [7, 3],
    });
    expect(() => rowOf(insert, message([1, 2]))).to.throw(MessageFailure, /not an object/);
    expect(() => rowOf(upsert, message({ total: 1 }))).to.throw(MessageFailure, /"id" \(a key column\)/);
    expect(() => rowOf(insert, message({}))).to.throw(MessageFailure, /no column values/);
  });

  it("makes one parameterised statement per run of rows with the same columns and no repeated key", () => {
    const rows = [
      { columns: ["id", "qty"], values: [1, 1] },
      { columns: ["id", "qty"], values: [2, "x'); DROP TABLE orders; --"] },
      { columns: ["id", "qty"], values: [1, 3] },
      { columns: ["id", "note"], values: [4, "n"] },
    ];
    const s = statementsOf(upsert, rows);
    expect(s.map((x) => x.rows)).to.deep.equal([[0, 1], [2], [3]]);
    expect(s[0]!.sql).to.equal(
      'INSERT INTO "orders" ("id", "qty") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "qty" = EXCLUDED."qty"',
    );
    expect(s[0]!.params).to.deep.equal([1, 1, 2, "x'); DROP TABLE orders; --"]);
    const keyOnly = statementsOf(upsert, [{ columns: ["id"], values: [1] }]);
    expect(keyOnly[0]!.sql).to.match(/ON CONFLICT \("id"\) DO NOTHING$/);
    expect(statementsOf(insert, rows).map((x) => x.rows)).to.deep.equal([[0, 1, 2], [3]]);
  });

  it("names the column of a row's error", () => {
    const cols = ["id", "qty", "code"];
    expect(columnsOfError({ message: "null value", column: "qty" }, cols)).to.deep.equal(["qty"]);
    expect(
      columnsOfError({ message: "invalid input", where: "unnamed portal parameter $5 = '...'" }, cols),
    ).to.deep.equal(["qty"]);
    expect(columnsOfError({ message: "dup", detail: "Key (id, code)=(1, a) already exists." }, cols)).to.deep.equal([
      "id",
      "code",
    ]);
    const types = new Map([
      ["id", "integer"],
      ["qty", "integer"],
      ["code", "character varying(3)"],
    ]);
    expect(columnsOfError({ message: "value too long for type character varying(3)" }, cols, types)).to.deep.equal([
      "code",
    ]);
    expect(rejection("orders", { message: "boom", code: "23514" }, [])).to.equal("postgres table orders: boom [23514]");
  });

  it("retries lost connections and server trouble, not a row's errors", () => {
    expect(isTransient(new Error("Connection terminated unexpectedly"))).to.equal(true);
    for (const code of ["08006", "57P01", "53300", "40001", "40P01", "55P03", "57014"])
      expect(isTransient({ code }), code).to.equal(true);
    for (const code of ["23505", "23502", "22P02", "42703", "42P01"])
      expect(isTransient({ code }), code).to.equal(false);
  });
});

describe("postgres-cdc LSNs and filters", () => {
  it("reads and writes LSNs as PostgreSQL does", () => {
    expect(parseLsn("0/16B3748")).to.equal(0x16b3748n);
    expect(parseLsn("00000001/0000000A")).to.equal((1n << 32n) | 10n);
    expect(formatLsn((0x16n << 32n) | 0xb374d848n)).to.equal("16/B374D848");
    expect(() => parseLsn("16-B3")).to.throw(/not an LSN/);
  });

  it("keeps the tables (unqualified ones in public) and operations configured", () => {
    const f = new ChangeFilter(["orders", "sales.items"], ["insert", "delete"]);
    expect(f.keeps("insert", "public", "orders")).to.equal(true);
    expect(f.keeps("insert", "sales", "items")).to.equal(true);
    expect(f.keeps("insert", "sales", "orders")).to.equal(false);
    expect(f.keeps("update", "public", "orders")).to.equal(false);
    expect(f.tableList).to.deep.equal(["public.orders", "sales.items"]);
    const all = new ChangeFilter(undefined, undefined);
    expect(all.keeps("update", "any", "table")).to.equal(true);
    expect(all.tableList).to.equal(undefined);
  });
});
