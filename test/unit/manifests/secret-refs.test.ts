import { expect } from "chai";
import { loadDesired } from "../../../engine/manifests/load.js";
import { checkSealedSecrets, secretNamesOf, secretRefsOf } from "../../../engine/manifests/secret-refs.js";
import { integrationResource, tenantYaml } from "../../helpers/manifests.js";

const bytes = (s: string) => new TextEncoder().encode(s);

const HOOK = [
  "apiVersion: vrsky.io/v1",
  "kind: Integration",
  "metadata: { name: hook, tenant: acme }",
  "spec:",
  "  source:",
  "    type: http",
  "    config:",
  "      path: /hook",
  "      signature: { secretRef: signing }",
  "  sinks:",
  "    - name: a",
  "      type: http",
  "      config: { secretRef: hook-url }",
  "    - name: b",
  "      type: http",
  "      config:",
  "        secretRef: hook-url",
  "",
].join("\n");

const files = () => [
  { path: "tenants/acme.yaml", oid: "t", bytes: bytes(tenantYaml("acme")) },
  { path: "integrations/acme/hook.yaml", oid: "i", bytes: bytes(HOOK) },
];

describe("secret references of an integration and the sealed-secrets check", () => {
  it("finds every secretRef of every connector config at any depth, in manifest order", () => {
    const r = integrationResource("acme", "x", {
      source: { type: "http", config: { path: "/x", signature: { secretRef: "signing" } } },
      sinks: [
        { name: "a", type: "http", config: { secretRef: "hook-url", headers: { "x-a": "b" } } },
        { name: "b", type: "postgres", config: { nested: [{ secretRef: "db" }], secretRef: "hook-url" } },
      ],
    });
    expect(secretRefsOf(r).map((u) => [u.name, u.path.join("/")])).to.deep.equal([
      ["signing", "spec/source/config/signature/secretRef"],
      ["hook-url", "spec/sinks/0/config/secretRef"],
      ["db", "spec/sinks/1/config/nested/0/secretRef"],
      ["hook-url", "spec/sinks/1/config/secretRef"],
    ]);
    expect(secretNamesOf(r)).to.deep.equal(["db", "hook-url", "signing"]);
    expect(secretNamesOf(integrationResource("acme", "plain"))).to.deep.equal([]);
  });

  it("without a secrets/ folder nothing is checked; with one, each unsealed secretRef is a finding where it is written", () => {
    expect(loadDesired(files()).findings).to.deep.equal([]);
    const sealed = new Set(["secrets/acme/signing.age", "secrets/beta/hook-url.age"]);
    const findings = loadDesired(files(), { sealedSecrets: sealed }).findings;
    expect(findings.map((f) => [f.file, f.line, f.column, f.path, f.code])).to.deep.equal([
      ["integrations/acme/hook.yaml", 13, 28, "spec.sinks[0].config.secretRef", "VRS_SECRET_MISSING"],
      ["integrations/acme/hook.yaml", 17, 20, "spec.sinks[1].config.secretRef", "VRS_SECRET_MISSING"],
    ]);
    expect(findings[0]!.message).to.include("secrets/acme/hook-url.age").and.include("vrsky secret seal");
    sealed.add("secrets/acme/hook-url.age");
    expect(loadDesired(files(), { sealedSecrets: sealed }).findings).to.deep.equal([]);
  });

  it("checks the secrets of the tenant the integration belongs to, and nothing without the sealed list", () => {
    const docs = [{ file: "f.yaml", tenant: "beta", refs: [{ name: "k", path: "p", line: 1, column: 2 }] }];
    expect(checkSealedSecrets(docs, undefined)).to.deep.equal([]);
    expect(checkSealedSecrets(docs, new Set(["secrets/acme/k.age"]))).to.have.length(1);
    expect(checkSealedSecrets(docs, new Set(["secrets/beta/k.age"]))).to.deep.equal([]);
  });
});
