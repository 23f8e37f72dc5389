import { expect } from "chai";
import { celEnvironment } from "../../../engine/manifests/cel.js";
import { compileProcessor, MAX_OUTPUTS, type ProcessResult } from "../../../engine/pipeline/processor.js";
import { withBody } from "../../../engine/pipeline/message.js";
import { STEP_RUNTIMES, type StepCompiler } from "../../../engine/pipeline/steps/index.js";
import { message, processor, summarise, type SinkSpec, type StepSpec } from "./support.js";

const sink = (name: string, when?: string): SinkSpec =>
  when === undefined
    ? { name, type: "nats", config: { subject: name } }
    : { name, type: "nats", when, config: { subject: name } };

describe("pipeline routing", () => {
  const cases: Array<{ name: string; sinks: SinkSpec[]; headers?: Record<string, string>; expect: object }> = [
    {
      name: "no when: every sink",
      sinks: [sink("a"), sink("b")],
      expect: { routed: [{ id: "m1", body: { total: 150 }, sinks: ["a", "b"] }] },
    },
    {
      name: "a when that holds selects its sink, one that does not leaves it out",
      sinks: [sink("a", "body.total > 100.0"), sink("b", "body.total > 1000.0"), sink("c")],
      expect: { routed: [{ id: "m1", body: { total: 150 }, sinks: ["a", "c"] }] },
    },
    {
      name: "no sink selected: routed to none (acknowledged, delivered nowhere)",
      sinks: [sink("a", "false")],
      expect: { routed: [{ id: "m1", body: { total: 150 }, sinks: [] }] },
    },
    {
      name: "headers route",
      sinks: [sink("slack"), sink("archive", "'x-archive' in headers && headers['x-archive'] == 'yes'")],
      headers: { "x-archive": "yes" },
      expect: { routed: [{ id: "m1", body: { total: 150 }, sinks: ["slack", "archive"] }] },
    },
    {
      name: "a guarded header condition is false without the header",
      sinks: [sink("slack"), sink("archive", "headers[?'x-archive'].orValue('') == 'yes'")],
      expect: { routed: [{ id: "m1", body: { total: 150 }, sinks: ["slack"] }] },
    },
    {
      name: "a sink condition that fails dead-letters the message, naming the sink",
      sinks: [sink("slack"), sink("archive", "headers['x-archive'] == 'yes'")],
      expect: { dead: "sink 'archive' (nats)", code: "VRS_MSG_FIELD_MISSING" },
    },
    {
      name: "a non-boolean sink condition is VRS_MSG_NOT_BOOL",
      sinks: [sink("a", "body.total")],
      expect: { dead: "sink 'a' (nats)", code: "VRS_MSG_NOT_BOOL" },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = processor([], c.sinks);
      expect(summarise(p.process(message({ total: 150 }, { headers: c.headers })))).to.deep.equal(c.expect);
    });
  }

  it("routes each item of a split on its own", () => {
    const p = processor(
      [{ type: "split", config: { items: "body.orders" } }],
      [sink("big", "body.total > 100.0"), sink("all")],
    );
    expect(summarise(p.process(message({ orders: [{ total: 5 }, { total: 500 }] })))).to.deep.equal({
      routed: [
        { id: "m1.0", body: { total: 5 }, sinks: ["all"] },
        { id: "m1.1", body: { total: 500 }, sinks: ["big", "all"] },
      ],
    });
  });
});

describe("pipeline processor", () => {
  it("dead-letters the whole input when one split item fails, naming the item", () => {
    const p = processor([
      { type: "split", config: { items: "body.orders" } },
      { name: "shape", type: "map", config: { fields: { id: "body.id" } } },
    ]);
    const r = p.process(message({ orders: [{ id: 1 }, { nope: 2 }, { id: 3 }] }));
    expect(summarise(r, { id: true })).to.deep.equal({
      dead: "step 'shape' (map)",
      code: "VRS_MSG_FIELD_MISSING",
      id: "m1.1",
    });
  });

  it("says which expression failed and why", () => {
    const p = processor([{ name: "shape", type: "map", config: { fields: { id: "1", total: "body.order.total" } } }]);
    const r = p.process(message({ order: {} }));
    expect(r.outcome).to.equal("dead");
    expect((r as ProcessResult & { outcome: "dead" }).message).to.match(/^config\.fields\.total: .*total/);
    const big = processor([{ type: "map", config: { fields: { "a.b": "9007199254740993" } } }]).process(message({}));
    expect((big as ProcessResult & { outcome: "dead" }).message).to.match(/^config\.fields\["a\.b"\]: the integer/);
  });

  it("bounds the messages one input may become across nested splits", () => {
    const p = processor([
      { type: "split", config: { items: "body.rows", maxItems: 1000 } },
      { name: "cells", type: "split", config: { items: "body" } },
    ]);
    const row = Array.from({ length: 101 }, (_, i) => i);
    const rows = (n: number) => ({ rows: Array.from({ length: n }, () => row) });
    expect(1000 * 101).to.be.above(MAX_OUTPUTS);
    expect(summarise(p.process(message(rows(1000))))).to.deep.equal({
      dead: "step 'cells' (split)",
      code: "VRS_MSG_TOO_MANY_ITEMS",
    });
    const ok = p.process(message(rows(900))) as ProcessResult & { outcome: "routed" };
    expect(ok.outputs).to.have.length(900 * 101);
  });

  it("is deterministic: the same input gives the same result", () => {
    const p = processor([
      { type: "split", config: { items: "body.lines" } },
      { type: "map", config: { fields: { sku: "body.sku", at: "attributes.receivedAt", id: "attributes.id" } } },
    ]);
    const input = message({ lines: [{ sku: "a" }, { sku: "b" }] });
    expect(p.process(input)).to.deep.equal(p.process(input));
    const r = p.process(input) as ProcessResult & { outcome: "routed" };
    expect(r.outputs.map((o) => o.message.body)).to.deep.equal([
      { sku: "a", at: "2026-01-31T12:00:00.000Z", id: "m1.0" },
      { sku: "b", at: "2026-01-31T12:00:00.000Z", id: "m1.1" },
    ]);
    expect(r.outputs.map((o) => o.message.attributes.id)).to.deep.equal(["m1.0", "m1.1"]);
  });

  it("compiles every expression once: no CEL parsing per message", () => {
    const p = processor(
      [
        { type: "map", when: "true", config: { fields: { total: "body.total", text: "'t' + string(body.total)" } } },
        { type: "filter", config: { when: "body.total > 1.0" } },
        { type: "template", config: { template: "{{ body.text }}" } },
      ],
      [sink("a", "true"), sink("b")],
    );
    // The environment is frozen: its class's methods stand in for it.
    const env = Object.getPrototypeOf(celEnvironment) as { parse: unknown; check: unknown };
    const { parse, check } = env;
    env.parse = env.check = () => {
      throw new Error("compiled while processing");
    };
    try {
      expect(() => processor([{ type: "filter", config: { when: "true" } }]), "the stand-in works").to.throw(
        /compiled/,
      );
      for (let i = 0; i < 100; i++) expect(p.process(message({ total: i + 2 })).outcome).to.equal("routed");
    } finally {
      Object.assign(env, { parse, check });
    }
  });

  it("shares what it does not change: headers and attributes of the input, unmapped subtrees in merge mode", () => {
    const p = processor([{ type: "map", config: { fields: { x: "1" }, mode: "merge" } }]);
    const input = message({ big: { deep: [1, 2, 3] } }, { headers: { a: "1" } });
    const r = p.process(input) as ProcessResult & { outcome: "routed" };
    const output = r.outputs[0]!.message;
    expect(output.headers).to.equal(input.headers);
    expect(output.attributes).to.equal(input.attributes);
    expect((output.body as { big: unknown }).big).to.equal((input.body as { big: unknown }).big);
  });

  it("never pollutes prototypes through map targets", () => {
    const p = processor([{ type: "map", config: { fields: { "__proto__.polluted": "true", "a.__proto__.b": "1" } } }]);
    const r = p.process(message({})) as ProcessResult & { outcome: "routed" };
    expect(r.outcome).to.equal("routed");
    expect(({} as { polluted?: unknown }).polluted).to.equal(undefined);
    expect(Object.getPrototypeOf(r.outputs[0]!.message.body)).to.equal(Object.prototype);
  });

  it("lists the steps that cannot run (no runtime in the registry)", () => {
    const r = compileProcessor(
      {
        steps: [
          { type: "xml", config: { direction: "xml-to-json" } },
          { name: "rows", type: "csv", config: {} },
          { type: "map", config: { fields: { a: "1" } } },
        ] as StepSpec[],
        sinks: [sink("out")] as [SinkSpec],
      },
      { map: STEP_RUNTIMES.map! },
    );
    if (!r.ok) throw new Error("does not compile");
    const p = r.processor;
    expect(p.unavailable.map((s) => [s.index, s.type])).to.deep.equal([
      [0, "xml"],
      [1, "csv"],
    ]);
    expect(summarise(p.process(message("<a/>")))).to.deep.equal({
      dead: "step 0 (xml)",
      code: "VRS_STEP_NOT_AVAILABLE",
    });
    expect(p.steps.map((s) => s.name ?? s.index)).to.deep.equal([0, "rows", 2]);
    expect(p.sinks.map((s) => s.name)).to.deep.equal(["out"]);
  });

  it("takes step runtimes from a registry, so a connector can add one", () => {
    const upper: StepCompiler = (config) => (m) => withBody(m, String(m.body).toUpperCase() + String(config.suffix));
    const r = compileProcessor(
      { steps: [{ type: "csv", config: { suffix: "!" } } as unknown as StepSpec], sinks: [sink("out")] as [SinkSpec] },
      { csv: upper },
    );
    if (!r.ok) throw new Error("does not compile");
    expect(r.processor.unavailable).to.deep.equal([]);
    expect(summarise(r.processor.process(message("abc")))).to.deep.equal({
      routed: [{ id: "m1", body: "ABC!", sinks: ["out"] }],
    });
  });

  it("turns anything a step throws into a dead result, never an exception", () => {
    const boom: StepCompiler = () => () => {
      throw new RangeError("Maximum call stack size exceeded");
    };
    const r = compileProcessor(
      { steps: [{ type: "map", config: {} } as unknown as StepSpec], sinks: [sink("out")] as [SinkSpec] },
      { map: boom },
    );
    if (!r.ok) throw new Error("does not compile");
    expect(summarise(r.processor.process(message({})))).to.deep.equal({
      dead: "step 0 (map)",
      code: "VRS_MSG_EVAL_FAILED",
    });
  });
});

describe("pipeline compilation", () => {
  const cases: Array<{ name: string; steps?: StepSpec[]; sinks?: SinkSpec[]; expect: Array<[string, string]> }> = [
    {
      name: "a map field that does not parse",
      steps: [{ type: "map", config: { fields: { ok: "1", bad: "1 +" } } }],
      expect: [["spec.steps[0].config.fields.bad", "VRS_CEL_INVALID"]],
    },
    {
      name: "a type error",
      steps: [{ type: "map", config: { fields: { bad: "headers + 1" } } }],
      expect: [["spec.steps[0].config.fields.bad", "VRS_CEL_INVALID"]],
    },
    {
      name: "an unknown variable",
      steps: [{ type: "filter", config: { when: "console.log(1)" } }],
      expect: [["spec.steps[0].config.when", "VRS_CEL_INVALID"]],
    },
    {
      name: "a step's when",
      steps: [{ type: "map", when: "(", config: { fields: { a: "1" } } }],
      expect: [["spec.steps[0].when", "VRS_CEL_INVALID"]],
    },
    {
      name: "templates: unbalanced, empty, not compiling",
      steps: [
        { type: "template", config: { template: "{{ body.a " } },
        { type: "template", config: { template: "{{ }}" } },
        { type: "template", config: { template: "x {{ 1 + }}" } },
      ],
      expect: [
        ["spec.steps[0].config.template", "VRS_TEMPLATE_INVALID"],
        ["spec.steps[1].config.template", "VRS_TEMPLATE_INVALID"],
        ["spec.steps[2].config.template", "VRS_TEMPLATE_INVALID"],
      ],
    },
    {
      name: "a sink's when",
      sinks: [sink("a"), sink("b", "body.")],
      expect: [["spec.sinks[1].when", "VRS_CEL_INVALID"]],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = compileProcessor({ steps: c.steps ?? [], sinks: (c.sinks ?? [sink("out")]) as [SinkSpec] });
      expect(r.ok).to.equal(false);
      if (r.ok) return;
      expect(r.problems.map((p) => [p.path, p.code])).to.deep.equal(c.expect);
    });
  }
});
