import { expect } from "chai";
import { fitMarkdown } from "../../../engine/ci/fit.js";
import { rateLimitWait, redact, permissionFor } from "../../../engine/ci/github.js";
import { pullRequestOf } from "../../../engine/ci/pr-event.js";
import { annotationBatches, buildPrReport, destructiveLines, markerSha, marker } from "../../../engine/ci/pr-report.js";
import type { Plan } from "../../../engine/plan/model.js";
import type { TestReport } from "../../../engine/pipeline/fixtures/run.js";

const note = (shown: number, total: number) => `\n(${shown} of ${total} lines)\n`;
const SHA = "a".repeat(40);

describe("pr-check: fitting Markdown into a limit", () => {
  it("returns a text that fits as it is", () => {
    expect(fitMarkdown("a\nb\n", 100, note)).to.equal("a\nb\n");
  });

  it("cuts between lines, never inside one, and says so", () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i} ${"x".repeat(20)}`).join("\n") + "\n";
    for (const limit of [60, 200, 1000, 2000]) {
      const out = fitMarkdown(text, limit, note);
      expect(out.length).to.be.at.most(limit);
      const lines = out.split("\n").filter((l) => l.startsWith("line "));
      for (const l of lines) expect(text.split("\n")).to.include(l);
      expect(out).to.match(/\(\d+ of 100 lines\)/);
    }
  });

  it("closes a fence and a <details> the cut leaves open", () => {
    const text = [
      "<details><summary>x</summary>",
      "",
      "```diff",
      ...Array.from({ length: 50 }, (_, i) => `! f${i}: 1 → 2`),
      "```",
      "</details>",
      "",
    ].join("\n");
    const out = fitMarkdown(text, 200, note);
    expect(out.length).to.be.at.most(200);
    const fenceAt = out.lastIndexOf("```\n");
    expect(fenceAt).to.be.greaterThan(out.indexOf("```diff"));
    expect(out.indexOf("</details>")).to.be.greaterThan(fenceAt);
  });
});

describe("pr-check: the pull-request event", () => {
  const event = {
    pull_request: { number: 3, head: { sha: SHA }, base: { sha: "b".repeat(40) }, merge_commit_sha: "c".repeat(40) },
  };

  it("uses the head sha, never the merge commit's", () => {
    expect(pullRequestOf(event, "acme/manifests")).to.deep.equal({
      owner: "acme",
      repo: "manifests",
      number: 3,
      headSha: SHA,
      baseSha: "b".repeat(40),
    });
  });

  it("says what is wrong with another event", () => {
    expect(pullRequestOf({ ref: "refs/heads/main" }, "a/b")).to.match(/not a pull request/);
    expect(pullRequestOf({ pull_request: { ...event.pull_request, head: { sha: "main" } } }, "a/b")).to.match(
      /head\.sha/,
    );
    expect(pullRequestOf(event, "")).to.match(/GITHUB_REPOSITORY/);
  });
});

describe("pr-check: GitHub errors", () => {
  const err = (status: number, headers: Record<string, string>, message = "x") => ({
    status,
    message,
    response: { headers },
  });

  it("reads retry-after, and x-ratelimit-reset when none remain", () => {
    expect(rateLimitWait(err(403, { "retry-after": "2" }), 0)).to.equal(2000);
    expect(rateLimitWait(err(429, { "retry-after": "0" }), 0)).to.equal(0);
    expect(rateLimitWait(err(403, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "10" }), 4000)).to.equal(7000);
    expect(rateLimitWait(err(403, {}, "You have exceeded a secondary rate limit"), 0)).to.equal(60_000);
  });

  it("takes a plain 403 for a permission, not a rate limit", () => {
    expect(rateLimitWait(err(403, {}, "Resource not accessible by integration"), 0)).to.equal(null);
    expect(rateLimitWait(err(404, { "retry-after": "1" }), 0)).to.equal(null);
    expect(permissionFor("POST", "/repos/a/b/check-runs")).to.equal("checks: write");
    expect(permissionFor("PATCH", "/repos/a/b/issues/comments/1")).to.equal("pull-requests: write");
  });

  it("never lets the token through", () => {
    const token = "ghs_0123456789abcdefghij";
    expect(redact(`failed with token ${token} and ${token}`, token)).not.to.include(token);
    expect(redact("authorization: Bearer abcdefghijklmnop", "")).not.to.include("abcdefghijklmnop");
  });
});

describe("pr-check: the report", () => {
  const tests = (over: Partial<TestReport> = {}): TestReport => ({
    formatVersion: 1,
    passed: true,
    ref: "head",
    revision: SHA,
    summary: { files: 0, cases: 0, passed: 0, failed: 0, skipped: 0 },
    errors: [],
    results: [],
    ...over,
  });
  const plan: Plan = {
    formatVersion: 1,
    base: { ref: "base", revision: "b".repeat(40) },
    head: { ref: "head", revision: SHA },
    summary: { create: 0, update: 0, delete: 2, unchanged: 1 },
    changes: [
      {
        action: "delete",
        kind: "Integration",
        name: "legacy",
        tenant: "old",
        reason: "not in head",
        fields: [],
        values: [],
      },
      { action: "delete", kind: "Tenant", name: "old", reason: "not in head", fields: [], values: [] },
    ],
  };

  it("calls out deletions and a deletion-guard hit at the top", () => {
    const guard = [{ what: "tenants" as const, deletes: 1, live: 1, allowed: 0, share: 0.5 }];
    const lines = destructiveLines(plan, guard);
    expect(lines[0]).to.include("deletes Tenant old and its 1 integration");
    expect(lines).to.have.length(2);
    expect(lines[1]).to.include("deletion guard");
    expect(lines[1]).to.include("applies nothing");
    expect(destructiveLines(plan, guard, true)[1]).to.include("The head commit has the trailer");
    const r = buildPrReport({ head: plan.head, base: plan.base!, tests: tests(), plan, guard });
    expect(r.conclusion).to.equal("success");
    expect(r.markdown.indexOf("Destructive")).to.be.lessThan(r.markdown.indexOf("### VRSky plan"));
    expect(r.title).to.equal("Valid: 2 changes (2 destructive)");
  });

  it("fails on findings, annotating their lines and columns", () => {
    const errors = [
      {
        file: "integrations/a/b.yaml",
        line: 4,
        column: 3,
        path: "spec.x",
        code: "VRS_SCHEMA_UNKNOWN_FIELD" as const,
        message: "unknown field",
      },
    ];
    const r = buildPrReport({
      head: plan.head,
      base: plan.base!,
      tests: tests({ passed: false, errors }),
      plan: null,
      guard: [],
    });
    expect(r.conclusion).to.equal("failure");
    expect(r.annotations).to.deep.equal([
      {
        path: "integrations/a/b.yaml",
        start_line: 4,
        end_line: 4,
        start_column: 3,
        end_column: 3,
        annotation_level: "failure",
        title: "VRS_SCHEMA_UNKNOWN_FIELD: unknown field",
        message: "spec.x: unknown field",
      },
    ]);
  });

  it("escapes a failing case's text from the commit in the Markdown", () => {
    const results = [
      {
        file: "integrations/a/b.test.yaml",
        line: 3,
        integration: "a/b",
        case: "x | <img src=x> `tick` [link](http://e) @team\n# heading",
        status: "failed" as const,
        differences: [{ path: "sinks.out[0].body", expected: "<b>", actual: "|" }],
      },
    ];
    const summary = { files: 1, cases: 1, passed: 0, failed: 1, skipped: 0 };
    const r = buildPrReport({
      head: plan.head,
      base: plan.base!,
      tests: tests({ passed: false, results, summary }),
      plan,
      guard: [],
    });
    const row = r.markdown.split("\n").find((l) => l.includes("tick"))!;
    const cells = row.split(/(?<!\\)\|/);
    expect(cells.length).to.equal(6);
    expect(cells[3]).not.to.match(/(?<!\\)<img|(?<!\\)\[link|(?<!\\)@team|(?<!\\)`/);
    expect(r.markdown).not.to.match(/^# heading/m);
    expect(r.annotations[0]).to.include({ path: "integrations/a/b.test.yaml", start_line: 3 });
  });

  it("batches annotations by 50, with one request even for none", () => {
    const a = buildPrReport({ head: plan.head, base: plan.base!, tests: tests(), plan, guard: [] }).annotations;
    expect(annotationBatches(a)).to.deep.equal([[]]);
    const many = Array.from({ length: 101 }, () => ({
      ...{ path: "p", start_line: 1, end_line: 1, annotation_level: "failure" as const, title: "t", message: "m" },
    }));
    expect(annotationBatches(many).map((b) => b.length)).to.deep.equal([50, 50, 1]);
  });

  it("marks the comment with the head sha", () => {
    expect(markerSha(marker(SHA) + "\nbody")).to.equal(SHA);
    expect(markerSha("quoted: " + marker(SHA))).to.equal(null);
  });
});
