import { expect } from "chai";
import type { JsonValue } from "../../../engine/pipeline/message.js";
import { message, processor, summarise, type StepSpec, type Summary } from "./support.js";

interface Case {
  name: string;
  steps: StepSpec[];
  body: JsonValue;
  headers?: Record<string, string>;
  contentType?: string;
  expect: Summary;
  /** Compare output content types too. */
  withContentType?: boolean;
}

const map = (fields: Record<string, string>, mode?: "replace" | "merge", name = "shape"): StepSpec => ({
  name,
  type: "map",
  config: mode ? { fields, mode } : { fields },
});
const filter = (when: string, name = "keep"): StepSpec => ({ name, type: "filter", config: { when } });
const template = (text: string, contentType?: string): StepSpec => ({
  name: "render",
  type: "template",
  config: contentType ? { template: text, contentType } : { template: text },
});
const split = (items: string, maxItems?: number): StepSpec => ({
  name: "each",
  type: "split",
  config: maxItems ? { items, maxItems } : { items },
});
const out = (body: JsonValue, id = "m1"): Summary => ({ routed: [{ id, body, sinks: ["out"] }] });

const ORDER = { order: { id: 42, total: 150.5, email: "a@example.com", lines: [{ sku: "a" }, { sku: "b" }] } };

const cases: Case[] = [
  // map
  {
    name: "map replace: only the mapped fields, dotted targets nested",
    steps: [map({ id: "body.order.id", "customer.email": "body.order.email", "customer.vip": "true" })],
    body: ORDER,
    expect: out({ id: 42, customer: { email: "a@example.com", vip: true } }),
  },
  {
    name: "map merge: fields set on the input body",
    steps: [map({ seen: "true", "order.status": "'new'" }, "merge")],
    body: ORDER,
    expect: out({ order: { ...ORDER.order, status: "new" }, seen: true }),
  },
  {
    name: "map: CEL ints become JSON numbers, lists and maps converted inside",
    steps: [
      map({
        n: "1 + 2",
        u: "7u",
        list: "[1, 'a', 2.5]",
        obj: "{'a': {'b': 1}}",
        skus: "body.order.lines.map(l, l.sku)",
      }),
    ],
    body: ORDER,
    expect: out({ n: 3, u: 7, list: [1, "a", 2.5], obj: { a: { b: 1 } }, skus: ["a", "b"] }),
  },
  {
    name: "map: bytes in base64, timestamps in RFC 3339, durations as seconds",
    steps: [map({ b: "b'hi'", t: "timestamp('2026-01-31T12:00:00Z')", d: "duration('1m30s')" })],
    body: {},
    expect: out({ b: "aGk=", t: "2026-01-31T12:00:00.000Z", d: "90s" }),
  },
  {
    name: "map: an empty optional leaves the field unset",
    steps: [map({ note: "body.?note", id: "body.?id" })],
    body: { id: 7 },
    expect: out({ id: 7 }),
  },
  {
    name: "map: headers and attributes are readable",
    steps: [map({ src: "headers['x-source']", id: "attributes.id", at: "attributes.receivedAt" })],
    body: {},
    headers: { "x-source": "shop" },
    expect: out({ src: "shop", id: "m1", at: "2026-01-31T12:00:00.000Z" }),
  },
  {
    name: "map: a missing field is VRS_MSG_FIELD_MISSING at the step",
    steps: [map({ id: "body.order.id" })],
    body: { other: 1 },
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_FIELD_MISSING" },
  },
  {
    name: "map: a missing header is VRS_MSG_FIELD_MISSING",
    steps: [map({ src: "headers['x-source']" })],
    body: {},
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_FIELD_MISSING" },
  },
  {
    name: "map: an index out of range is VRS_MSG_FIELD_MISSING",
    steps: [map({ third: "body.order.lines[2]" })],
    body: ORDER,
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_FIELD_MISSING" },
  },
  {
    name: "map: a type error at run time is VRS_MSG_EVAL_FAILED (JSON numbers are doubles)",
    steps: [map({ next: "body.order.id + 1" })],
    body: ORDER,
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_EVAL_FAILED" },
  },
  {
    name: "map: division by zero is VRS_MSG_EVAL_FAILED",
    steps: [map({ x: "1 / (size(body.order.lines) - 2)" })],
    body: ORDER,
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_EVAL_FAILED" },
  },
  {
    name: "map: an int beyond 2^53 is VRS_MSG_NOT_JSON",
    steps: [map({ big: "9007199254740993" })],
    body: {},
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_NOT_JSON" },
  },
  {
    name: "map: infinity is VRS_MSG_NOT_JSON",
    steps: [map({ inf: "body.order.total / 0.0" })],
    body: ORDER,
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_NOT_JSON" },
  },
  {
    name: "map: a type value is VRS_MSG_NOT_JSON",
    steps: [map({ t: "type(1)" })],
    body: {},
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_NOT_JSON" },
  },
  {
    name: "map merge on a text body is VRS_MSG_TARGET_INVALID",
    steps: [map({ x: "1" }, "merge")],
    body: "plain text",
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_TARGET_INVALID" },
  },
  {
    name: "map: a dotted target under a non-object is VRS_MSG_TARGET_INVALID",
    steps: [map({ a: "1", "a.b": "2" })],
    body: {},
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_TARGET_INVALID" },
  },
  {
    name: "map: a dotted target under an object value extends a copy of it",
    steps: [map({ customer: "body.c", "customer.vip": "true" })],
    body: { c: { name: "Ann" } },
    expect: out({ customer: { name: "Ann", vip: true } }),
  },
  {
    name: "map: __proto__ targets are plain fields",
    steps: [map({ "__proto__.polluted": "true", "x.__proto__": "1" })],
    body: {},
    expect: out(JSON.parse('{"__proto__": {"polluted": true}, "x": {"__proto__": 1}}') as JsonValue),
  },
  // filter and when
  {
    name: "filter: a condition that holds keeps the message",
    steps: [filter("body.order.total > 100.0")],
    body: ORDER,
    expect: out(ORDER),
  },
  {
    name: "filter: a condition that does not hold drops it, naming the step",
    steps: [filter("body.order.total > 1000.0")],
    body: ORDER,
    expect: { filtered: ["m1 at step 'keep' (filter)"] },
  },
  {
    name: "filter: a non-boolean condition is VRS_MSG_NOT_BOOL",
    steps: [filter("body.flag")],
    body: { flag: "yes" },
    expect: { dead: "step 'keep' (filter)", code: "VRS_MSG_NOT_BOOL" },
  },
  {
    name: "filter: a missing field is an error, not false",
    steps: [filter("body.total > 1.0")],
    body: {},
    expect: { dead: "step 'keep' (filter)", code: "VRS_MSG_FIELD_MISSING" },
  },
  {
    name: "filter: has() guards a missing field",
    steps: [filter("has(body.total) && body.total > 1.0")],
    body: {},
    expect: { filtered: ["m1 at step 'keep' (filter)"] },
  },
  {
    name: "when: a step whose when does not hold is skipped",
    steps: [{ ...map({ x: "1" }), when: "body.kind == 'a'" }, map({ y: "2" }, "merge", "second")],
    body: { kind: "b" },
    expect: out({ kind: "b", y: 2 }),
  },
  {
    name: "when: a step whose when holds applies",
    steps: [{ ...map({ x: "1" }), when: "body.kind == 'a'" }],
    body: { kind: "a" },
    expect: out({ x: 1 }),
  },
  {
    name: "when: a non-boolean when is VRS_MSG_NOT_BOOL at its step",
    steps: [{ ...map({ x: "1" }), when: "body.kind" }],
    body: { kind: "a" },
    expect: { dead: "step 'shape' (map)", code: "VRS_MSG_NOT_BOOL" },
  },
  {
    name: "steps run in order, each on the previous one's output",
    steps: [map({ total: "body.order.total" }), filter("body.total > 100.0"), map({ big: "true" }, "merge", "mark")],
    body: ORDER,
    expect: out({ total: 150.5, big: true }),
  },
  {
    name: "an unnamed step is named by its index",
    steps: [{ type: "map", config: { fields: { x: "body.nope" } } }],
    body: {},
    expect: { dead: "step 0 (map)", code: "VRS_MSG_FIELD_MISSING" },
  },
  // template
  {
    name: "template: text with the step's content type",
    steps: [template("Order {{ body.order.id }} for {{ body.order.total }} EUR ({{ body.order.email }})")],
    body: ORDER,
    withContentType: true,
    expect: {
      routed: [{ id: "m1", body: "Order 42 for 150.5 EUR (a@example.com)", contentType: "text/plain", sinks: ["out"] }],
    },
  },
  {
    name: "template: non-strings render as JSON, an empty optional as nothing",
    steps: [template("{{ body.order.lines }}|{{ null }}|{{ true }}|{{ 1 + 1 }}|{{ body.?none }}|")],
    body: ORDER,
    expect: out('[{"sku":"a"},{"sku":"b"}]|null|true|2||'),
  },
  {
    name: "template: a JSON content type makes a JSON body",
    steps: [template('{"id": {{ body.order.id }}, "email": "{{ body.order.email }}"}', "application/json")],
    body: ORDER,
    withContentType: true,
    expect: {
      routed: [{ id: "m1", body: { id: 42, email: "a@example.com" }, contentType: "application/json", sinks: ["out"] }],
    },
  },
  {
    name: "template: text that is not JSON under a JSON content type is VRS_MSG_NOT_JSON",
    steps: [template("id={{ body.order.id }}", "application/json")],
    body: ORDER,
    expect: { dead: "step 'render' (template)", code: "VRS_MSG_NOT_JSON" },
  },
  {
    name: "template: a placeholder that fails names the step",
    steps: [template("{{ body.nope }}")],
    body: {},
    expect: { dead: "step 'render' (template)", code: "VRS_MSG_FIELD_MISSING" },
  },
  {
    name: "template: a text without placeholders",
    steps: [template("ping")],
    body: {},
    expect: out("ping"),
  },
  // split
  {
    name: "split: each item a message, ids <id>.<index>",
    steps: [split("body.order.lines")],
    body: ORDER,
    expect: {
      routed: [
        { id: "m1.0", body: { sku: "a" }, sinks: ["out"] },
        { id: "m1.1", body: { sku: "b" }, sinks: ["out"] },
      ],
    },
  },
  {
    name: "split: items then steps, dropped items listed",
    steps: [split("body.order.lines"), filter("body.sku == 'b'")],
    body: ORDER,
    expect: {
      routed: [{ id: "m1.1", body: { sku: "b" }, sinks: ["out"] }],
      filtered: ["m1.0 at step 'keep' (filter)"],
    },
  },
  {
    name: "split: every item dropped is filtered",
    steps: [split("body.order.lines"), filter("false")],
    body: ORDER,
    expect: { filtered: ["m1.0 at step 'keep' (filter)", "m1.1 at step 'keep' (filter)"] },
  },
  {
    name: "split: an empty list is filtered at the split",
    steps: [split("body.lines")],
    body: { lines: [] },
    expect: { filtered: ["m1 at step 'each' (split)"] },
  },
  {
    name: "split: a value that is not a list is VRS_MSG_NOT_LIST",
    steps: [split("body.lines")],
    body: { lines: { a: 1 } },
    expect: { dead: "step 'each' (split)", code: "VRS_MSG_NOT_LIST" },
  },
  {
    name: "split: more items than maxItems is VRS_MSG_TOO_MANY_ITEMS",
    steps: [split("body.lines", 2)],
    body: { lines: [1, 2, 3] },
    expect: { dead: "step 'each' (split)", code: "VRS_MSG_TOO_MANY_ITEMS" },
  },
  {
    name: "split: exactly maxItems items is fine",
    steps: [split("body.lines", 2)],
    body: { lines: [1, 2] },
    expect: {
      routed: [
        { id: "m1.0", body: 1, sinks: ["out"] },
        { id: "m1.1", body: 2, sinks: ["out"] },
      ],
    },
  },
  {
    name: "split: a text message's string items stay text, others become JSON",
    steps: [split("body.split(',').map(s, s == 'x' ? dyn(1) : dyn(s))")],
    body: "a,x",
    contentType: "text/csv",
    withContentType: true,
    expect: {
      routed: [
        { id: "m1.0", body: "a", contentType: "text/csv", sinks: ["out"] },
        { id: "m1.1", body: 1, contentType: "application/json", sinks: ["out"] },
      ],
    },
  },
  {
    name: "split: nested splits multiply the ids",
    steps: [split("body.rows"), { name: "cells", type: "split", config: { items: "body" } }],
    body: { rows: [["a", "b"], ["c"]] },
    expect: {
      routed: [
        { id: "m1.0.0", body: "a", sinks: ["out"] },
        { id: "m1.0.1", body: "b", sinks: ["out"] },
        { id: "m1.1.0", body: "c", sinks: ["out"] },
      ],
    },
  },
  // xml and csv
  {
    name: "xml-to-json: the root element's content as the body",
    steps: [{ type: "xml", config: { direction: "xml-to-json", rootElement: "a" } }],
    body: "<a><b>1</b></a>",
    expect: { routed: [{ id: "m1", body: { b: "1" }, sinks: ["out"] }] },
  },
  {
    name: "csv with emit rows, then a map over each row",
    steps: [{ name: "rows", type: "csv", config: { header: true, emit: "rows" } }, map({ n: "body.a" })],
    body: "a,b\n1,2\n3,4\n",
    expect: {
      routed: [
        { id: "m1.0", body: { n: "1" }, sinks: ["out"] },
        { id: "m1.1", body: { n: "3" }, sinks: ["out"] },
      ],
    },
  },
  {
    name: "a step whose when does not hold is skipped like any step",
    steps: [{ type: "csv", when: "false", config: {} }],
    body: "a,b",
    expect: out("a,b"),
  },
];

describe("pipeline steps (table)", () => {
  for (const c of cases) {
    it(c.name, () => {
      const p = processor(c.steps);
      const input = message(c.body, { headers: c.headers, contentType: c.contentType });
      const before = structuredClone(input);
      const result = p.process(input);
      expect(summarise(result, { contentType: c.withContentType })).to.deep.equal(c.expect);
      expect(input, "the input message is never changed").to.deep.equal(before);
    });
  }
});
