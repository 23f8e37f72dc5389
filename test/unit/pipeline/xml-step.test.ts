import { expect } from "chai";
import { MessageFailure } from "../../../engine/pipeline/failure.js";
import { compileXml } from "../../../engine/pipeline/steps/xml.js";
import type { Message } from "../../../engine/pipeline/message.js";
import { message, processor, summarise } from "./support.js";

function failure(run: () => unknown): MessageFailure {
  try {
    run();
  } catch (e) {
    if (e instanceof MessageFailure) return e;
    throw e;
  }
  throw new Error("did not fail");
}

const xml = (text: string): Message => message(text, { contentType: "application/xml" });

describe("xml step", () => {
  const toJson = compileXml({ direction: "xml-to-json", rootElement: "shipment", attributePrefix: "@", arrays: [] });

  it("xml-to-json: the root element's content, attributes with the prefix, text as #text, values as strings", () => {
    const out = toJson(
      xml('<?xml version="1.0"?><shipment id="S-1"><qty>007</qty><note lang="en">hi</note><empty/></shipment>'),
    ) as Message;
    expect(out.contentType).to.equal("application/json");
    expect(out.body).to.deep.equal({ "@id": "S-1", qty: "007", note: { "@lang": "en", "#text": "hi" }, empty: "" });
  });

  it("repeated elements are lists; `arrays` paths are lists even with one element", () => {
    const step = compileXml({ direction: "xml-to-json", rootElement: "o", arrays: ["lines.line"] });
    expect((step(xml("<o><lines><line>a</line></lines><t>1</t><t>2</t></o>")) as Message).body).to.deep.equal({
      lines: { line: ["a"] },
      t: ["1", "2"],
    });
  });

  it("decodes the predefined entities and character references, and no other", () => {
    const out = toJson(xml("<shipment><a>x &lt; y &amp;&#65;&#x42;</a><b>&custom;</b></shipment>")) as Message;
    expect(out.body).to.deep.equal({ a: "x < y &AB", b: "&custom;" });
  });

  it("refuses an external entity (XXE): a DOCTYPE is VRS_MSG_XML_DOCTYPE, nothing is read", () => {
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE shipment [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><shipment>&xxe;</shipment>';
    const f = failure(() => toJson(xml(xxe)));
    expect(f.code).to.equal("VRS_MSG_XML_DOCTYPE");
    expect(f.message).to.match(/DOCTYPE/);
  });

  it("refuses a billion-laughs bomb at once, without expanding it", () => {
    const defs = ['<!ENTITY lol "lol">'];
    for (let i = 1; i < 10; i++) defs.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? "" : i - 1};`.repeat(10)}">`);
    const bomb = `<!doctype shipment [${defs.join("")}]><shipment>&lol9;</shipment>`;
    const started = performance.now();
    expect(failure(() => toJson(xml(bomb))).code).to.equal("VRS_MSG_XML_DOCTYPE");
    expect(performance.now() - started).to.be.below(500);
  });

  it("malformed XML and another root element are VRS_MSG_NOT_XML with the line or the names", () => {
    const bad = failure(() => toJson(xml("<shipment>\n<a></shipment>")));
    expect(bad.code).to.equal("VRS_MSG_NOT_XML");
    expect(bad.message).to.match(/line 2/);
    expect(failure(() => toJson(xml("<order/>"))).message).to.match(
      /expected root element <shipment>, found .*<order>/,
    );
    expect(failure(() => toJson(message({ a: 1 }))).code).to.equal("VRS_MSG_NOT_XML");
    expect(failure(() => toJson(xml("<shipment><__proto__>x</__proto__></shipment>"))).code).to.equal(
      "VRS_MSG_NOT_XML",
    );
  });

  it("json-to-xml: the body inside <rootElement>, escaped, attributes and #text back, lists repeated", () => {
    const step = compileXml({ direction: "json-to-xml", rootElement: "shipment", attributePrefix: "_" });
    const out = step(
      message({ _id: 'S<1"', items: { item: ["a&b", "c"] }, note: { _lang: "en", "#text": "hi" }, n: 3 }),
    ) as Message;
    expect(out.contentType).to.equal("application/xml");
    expect(out.body).to.equal(
      '<shipment id="S&lt;1&quot;"><items><item>a&amp;b</item><item>c</item></items><note lang="en">hi</note><n>3</n></shipment>',
    );
  });

  it("json-to-xml refuses keys that are not XML names (no markup from data) and bodies that are not objects", () => {
    const step = compileXml({ direction: "json-to-xml", rootElement: "r", attributePrefix: "@" });
    expect(failure(() => step(message({ ok: { "a><script": 1 } }))).message).to.match(
      /r\.ok: key .* is not an XML name/,
    );
    expect(failure(() => step(message([1, 2]))).code).to.equal("VRS_MSG_NOT_XML");
  });

  it("round trip through the processor: xml-to-json then json-to-xml", () => {
    const p = processor([
      { type: "xml", config: { direction: "xml-to-json", rootElement: "s", attributePrefix: "@" } },
      { type: "xml", config: { direction: "json-to-xml", rootElement: "s", attributePrefix: "@" } },
    ]);
    const text = '<s id="1"><a>x</a><a>y</a></s>';
    expect(summarise(p.process(xml(text)))).to.deep.equal({ routed: [{ id: "m1", body: text, sinks: ["out"] }] });
  });
});
