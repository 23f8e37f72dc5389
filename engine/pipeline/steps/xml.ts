import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";
import { errorMessage } from "../../errors/errors.js";
import { MessageFailure } from "../failure.js";
import { withBody, type JsonValue } from "../message.js";
import type { StepCompiler } from "./step.js";

/** The key of an element's text when it also has attributes or children: `{"@id": "7", "#text": "Ada"}`. */
export const XML_TEXT_KEY = "#text";
export const XML_CONTENT_TYPE = "application/xml";

/** An XML element name (no namespace handling beyond the prefix being part of the name). */
const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
/** A DOCTYPE anywhere: refused before parsing, so no entity can be defined (no XXE, no billion laughs). */
const DOCTYPE = /<!DOCTYPE/i;
const PREDEFINED: Readonly<Record<string, string>> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
const ENTITY = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/g;

/**
 * `xml`: XML to JSON or back, with fast-xml-parser. Entity expansion and DOCTYPE processing are off: a document
 * with a DOCTYPE fails with VRS_MSG_XML_DOCTYPE, and only the five predefined entities and character references
 * are decoded (in this step, never by the parser). Every value stays a string.
 *
 * `xml-to-json`: the document's root element must be `rootElement`; the body becomes its content, attributes as
 * `<attributePrefix><name>`, an element's text next to attributes or children as `#text`, repeated elements as
 * lists, and the elements at `arrays` (dotted paths from the root's content, e.g. `items.item`) always lists.
 * `json-to-xml`: the body (an object) becomes the content of `<rootElement>`, the same way back; the text is
 * `application/xml`.
 */
export const compileXml: StepCompiler = (config) => {
  const root = typeof config.rootElement === "string" ? config.rootElement : "root";
  const prefix = typeof config.attributePrefix === "string" ? config.attributePrefix : "@";
  if (config.direction === "json-to-xml") return toXml(root, prefix);
  const arrays = new Set(Array.isArray(config.arrays) ? (config.arrays as string[]) : []);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: prefix,
    textNodeName: XML_TEXT_KEY,
    processEntities: false,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    jPath: true,
    isArray: (_name, jpath, _leaf, isAttribute) =>
      !isAttribute && typeof jpath === "string" && arrays.has(jpath.slice(jpath.indexOf(".") + 1)),
    tagValueProcessor: (_name, value) => decodeEntities(value),
    attributeValueProcessor: (_name, value) => decodeEntities(value),
  });
  return (message) => {
    const text = message.body;
    if (typeof text !== "string") {
      throw new MessageFailure("VRS_MSG_NOT_XML", "the body is not text (xml-to-json reads XML text)");
    }
    if (DOCTYPE.test(text)) {
      throw new MessageFailure(
        "VRS_MSG_XML_DOCTYPE",
        "the document declares a DOCTYPE; DOCTYPE and entity definitions are refused (no external entities, no entity expansion)",
      );
    }
    const valid = XMLValidator.validate(text);
    if (valid !== true) {
      const { msg, line } = valid.err;
      throw new MessageFailure("VRS_MSG_NOT_XML", `the body is not well-formed XML: line ${line}: ${msg}`);
    }
    let doc: Record<string, JsonValue>;
    try {
      doc = parser.parse(text) as Record<string, JsonValue>;
    } catch (e) {
      // The parser refuses names such as __proto__ (they would reach an object's prototype).
      throw new MessageFailure("VRS_MSG_NOT_XML", `the body cannot be converted: ${errorMessage(e)}`);
    }
    const elements = Object.keys(doc);
    if (elements.length !== 1 || elements[0] !== root) {
      const found = elements.length === 0 ? "no root element" : `root element <${elements.join(">, <")}>`;
      throw new MessageFailure("VRS_MSG_NOT_XML", `expected root element <${root}>, found ${found}`);
    }
    const content = doc[root]!;
    return withBody(message, content === "" ? {} : content, "application/json");
  };
};

function toXml(root: string, prefix: string) {
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: prefix,
    textNodeName: XML_TEXT_KEY,
    suppressEmptyNode: true,
    processEntities: true,
  });
  return (message: Parameters<ReturnType<StepCompiler>>[0]) => {
    const body = message.body;
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new MessageFailure("VRS_MSG_NOT_XML", "json-to-xml needs an object body (its keys become elements)");
    }
    checkNames(body, prefix, root);
    let xml: string;
    try {
      xml = builder.build({ [root]: body }) as string;
    } catch (e) {
      throw new MessageFailure("VRS_MSG_NOT_XML", `the body cannot be written as XML: ${errorMessage(e)}`);
    }
    return withBody(message, xml, XML_CONTENT_TYPE);
  };
}

/** Every key must be an element or attribute name (or `#text`): nothing in the data may write markup. */
function checkNames(value: JsonValue, prefix: string, path: string): void {
  if (Array.isArray(value)) {
    for (const v of value) checkNames(v, prefix, path);
    return;
  }
  if (value === null || typeof value !== "object") return;
  for (const [key, v] of Object.entries(value)) {
    if (key === XML_TEXT_KEY) continue;
    const name = prefix !== "" && key.startsWith(prefix) ? key.slice(prefix.length) : key;
    if (!XML_NAME.test(name)) {
      throw new MessageFailure("VRS_MSG_NOT_XML", `${path}: key ${JSON.stringify(key)} is not an XML name`);
    }
    checkNames(v, prefix, `${path}.${key}`);
  }
}

/** The predefined entities and character references; anything else (`&custom;`) is left as it is. */
function decodeEntities(value: string): string {
  if (!value.includes("&")) return value;
  return value.replace(ENTITY, (whole, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (name) return PREDEFINED[name]!;
    const code = hex ? parseInt(hex, 16) : Number(dec);
    return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : whole;
  });
}
