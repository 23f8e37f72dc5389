/**
 * Findings in the formats CI systems read (pure: no I/O): SARIF 2.1.0 for code-scanning uploads, and GitHub
 * Actions workflow commands (`::error file=…,line=…::…`), which annotate a pull request's lines without a token.
 * docs/cli.md documents both.
 */
import { CODES } from "../errors/codes.js";
import type { Finding } from "../errors/finding.js";

const DOCS = "https://github.com/vrsky/vrsky/blob/main/docs/errors.md";

/** A SARIF 2.1.0 log of the findings: one run, a rule per code found, a result per finding. */
export function findingsSarif(findings: readonly Finding[], o: { version: string; revision: string }): unknown {
  const codes = [...new Set(findings.map((f) => f.code))].sort();
  const index = new Map(codes.map((c, i) => [c, i]));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "vrsky",
            version: o.version,
            informationUri: "https://github.com/vrsky/vrsky",
            rules: codes.map((code) => ({
              id: code,
              name: code,
              shortDescription: { text: CODES[code].title },
              help: { text: CODES[code].hint },
              helpUri: `${DOCS}#${code.toLowerCase()}`,
              defaultConfiguration: { level: "error" },
            })),
          },
        },
        ...(o.revision !== "worktree"
          ? { versionControlProvenance: [{ repositoryUri: ".", revisionId: o.revision }] }
          : {}),
        results: findings.map((f) => ({
          ruleId: f.code,
          ruleIndex: index.get(f.code),
          level: "error",
          message: { text: f.path ? `${f.path}: ${f.message}` : f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: uriOf(f.file), uriBaseId: "%SRCROOT%" },
                ...(f.line >= 1
                  ? { region: { startLine: f.line, ...(f.column >= 1 ? { startColumn: f.column } : {}) } }
                  : {}),
              },
            },
          ],
        })),
      },
    ],
  };
}

/** A relative URI of a repository path: each segment percent-encoded, the slashes kept. */
function uriOf(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

/**
 * One `::error` workflow command per finding. Values are escaped as the runner expects (`%`, CR and LF in the
 * message; also `:` and `,` in properties), so a file name or message from a commit cannot end the command early
 * or start another one.
 */
export function findingsGithub(findings: readonly Finding[]): string {
  return findings
    .map((f) => {
      const props = [`file=${prop(f.file)}`];
      if (f.line >= 1) props.push(`line=${f.line}`);
      if (f.column >= 1) props.push(`col=${f.column}`);
      props.push(`title=${prop(`${f.code}: ${CODES[f.code].title}`)}`);
      return `::error ${props.join(",")}::${data(f.path ? `${f.path}: ${f.message}` : f.message)}\n`;
    })
    .join("");
}

function data(s: string): string {
  return s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

function prop(s: string): string {
  return data(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
}
