import { expect } from "chai";
import { findCredentials } from "../../../engine/manifests/credentials.js";
import { formatPath } from "../../../engine/manifests/json-path.js";

const BASE = ["spec", "sinks", 0, "config"];

/** The formatted paths of every hit in a config. */
function hits(config: unknown): string[] {
  return findCredentials(config, BASE).map((h) => formatPath(h.path));
}

describe("credential heuristics", () => {
  // [description, config, paths that must be flagged]
  const secrets: Array<[string, unknown, string[]]> = [
    ["a URL with a password", { url: "https://bot:hunter2@hooks.example.com/x" }, ["spec.sinks[0].config.url"]],
    ["a postgres URL with a password", { dsn: "postgres://app:s3cret@db:5432/ledger" }, ["spec.sinks[0].config.dsn"]],
    [
      "an Authorization header literal",
      { headers: { Authorization: "Bearer abc" } },
      ["spec.sinks[0].config.headers.Authorization"],
    ],
    [
      "an authorization header in any case",
      { headers: { authorization: "whatever" } },
      ["spec.sinks[0].config.headers.authorization"],
    ],
    ["an X-Api-Key header", { headers: { "X-Api-Key": "k" } }, ['spec.sinks[0].config.headers["X-Api-Key"]']],
    ["a Cookie header", { headers: { Cookie: "session=1" } }, ["spec.sinks[0].config.headers.Cookie"]],
    ["a Bearer value under any key", { note: "Bearer 0123456789abcdef" }, ["spec.sinks[0].config.note"]],
    ["a Basic value under any key", { note: "Basic dXNlcjpwYXNzd29yZA==" }, ["spec.sinks[0].config.note"]],
    ["a Slack bot token", { text: "xoxb-123456789012-abcdefghijkl" }, ["spec.sinks[0].config.text"]],
    [
      "a Slack webhook URL",
      { url: "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX" },
      ["spec.sinks[0].config.url"],
    ],
    ["a GitHub personal token", { t: "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB" }, ["spec.sinks[0].config.t"]],
    [
      "a GitHub fine-grained token",
      { t: "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz" },
      ["spec.sinks[0].config.t"],
    ],
    ["an AWS access key id", { k: "AKIAIOSFODNN7EXAMPLE" }, ["spec.sinks[0].config.k"]],
    ["a Stripe key", { k: "sk_live_0123456789abcdefghij" }, ["spec.sinks[0].config.k"]],
    [
      "a JWT",
      { k: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U" },
      ["spec.sinks[0].config.k"],
    ],
    ["a private key", { pem: "-----BEGIN RSA PRIVATE KEY-----\nMIIE..." }, ["spec.sinks[0].config.pem"]],
    ["a NATS nkey seed", { seed: `SU${"A".repeat(56)}` }, ["spec.sinks[0].config.seed"]],
    [
      "a token in a URL query",
      { url: "https://api.example.com/v1?access_token=0123456789" },
      ["spec.sinks[0].config.url"],
    ],
    ["a password key", { password: "correct-horse" }, ["spec.sinks[0].config.password"]],
    [
      "secret-like keys in any spelling",
      { apiKey: "x", client_secret: "y", "private-key": "z", TOKEN: "t" },
      [
        'spec.sinks[0].config["private-key"]',
        "spec.sinks[0].config.TOKEN",
        "spec.sinks[0].config.apiKey",
        "spec.sinks[0].config.client_secret",
      ],
    ],
    [
      "nested in lists and maps",
      { payload: { items: [{ ok: 1 }, { auth: { token: "abc" } }] } },
      ["spec.sinks[0].config.payload.items[1].auth.token"],
    ],
  ];
  for (const [what, config, paths] of secrets) {
    it(`flags ${what}`, () => {
      expect(hits(config)).to.have.members(paths).and.to.have.length(paths.length);
    });
  }

  const clean: Array<[string, unknown]> = [
    ["a normal https URL", { url: "https://api.example.com/v1/orders?page=2&sort=desc" }],
    ["a URL with a user but no password", { url: "ssh://git@github.com/acme/app.git" }],
    ["an @ in the path of a URL", { url: "https://example.com/users/@me:profile" }],
    ["a secretRef", { secretRef: "slack-webhook" }],
    ["a nested secretRef", { signature: { secretRef: "shop-webhook-signing", header: "x-signature-256" } }],
    ["a Content-Type header", { headers: { "Content-Type": "application/json", Accept: "text/csv" } }],
    ["an Authorization key outside headers", { fields: { Authorization: "body.auth" } }],
    ["an empty password", { password: "" }],
    ["a non-string token", { token: 42, secret: true, auth: null }],
    ["upsert key columns", { key: ["invoice_id"], mode: "upsert" }],
    ["a short query parameter", { url: "https://example.com/?key=abc" }],
    ["a sha256 of a key", { sha256: "4d90d37a73662ee9bf18994202c2fe420e54f28fa784464540da1a6c8e08af88" }],
    ["a CEL expression mentioning headers", { when: "headers['authorization'] != ''" }],
    ["words that merely mention tokens", { text: "rotate the token weekly", note: "the password is in the vault" }],
  ];
  for (const [what, config] of clean) {
    it(`does not flag ${what}`, () => {
      expect(hits(config)).to.deep.equal([]);
    });
  }

  it("reports full paths from the given base, in a stable order", () => {
    const config = { b: "xoxp-123456789012-abcdef", a: "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB" };
    const first = findCredentials(config, BASE);
    expect(first.map((h) => formatPath(h.path))).to.deep.equal(["spec.sinks[0].config.a", "spec.sinks[0].config.b"]);
    expect(first.map((h) => h.what)).to.deep.equal(["a GitHub token", "a Slack token"]);
    expect(findCredentials({ a: config.a, b: config.b }, BASE)).to.deep.equal(first);
  });
});
