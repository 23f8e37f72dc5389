/**
 * `vrsky dlq list|show|replay|purge`: an integration's dead letters, read in its tenant's account
 * (engine/dataplane/dead-letters.ts), replayed into its ingest stream (dead-letter-replay.ts) or deleted.
 * docs/cli.md documents the commands and their JSON; docs/operations.md how to use them.
 */
import { Option, type Command } from "commander";
import { decodeDeadLetter, DeadLetters, type DeadLetter } from "../../dataplane/dead-letters.js";
import { Replayer, type ReplayResult } from "../../dataplane/dead-letter-replay.js";
import { VrskyError } from "../../errors/errors.js";
import { printable, printableBlock, utf8Text } from "../../text/printable.js";
import { confirm } from "../confirm.js";
import { formatOption, type CliContext } from "../context.js";
import { checkNames, parseLimit, parseSince } from "../dataplane-options.js";
import { Progress, writeBytes } from "../output.js";
import { openTenantAccess } from "../tenant-access.js";
import {
  bodyView,
  countReplays,
  renderList,
  renderShow,
  replayLine,
  showJson,
  summary,
  type BodyView,
} from "./dlq-render.js";

interface Common {
  tenant: string;
  integration: string;
  nats: string;
  creds?: string;
  keys?: string;
  since?: string;
  format: "text" | "json";
}

/** Replay lines printed one by one up to this many; beyond it, only failures and the counts. */
const LINE_CAP = 50;

function common(cmd: Command): Command {
  return cmd
    .requiredOption("--tenant <name>", "tenant")
    .requiredOption("--integration <name>", "integration")
    .requiredOption("--nats <url>", "NATS server URL(s) of the platform")
    .option("--creds <file>", "NATS credentials file of the platform account")
    .option("--keys <dir>", "key directory from vrsky init: reach the tenant's own account (operator mode)")
    .addOption(formatOption(["text", "json"]));
}

function sinceOption(what: string): Option {
  return new Option("--since <duration|time>", `only dead letters stored since then (${what})`);
}

/** Opens the tenant's account and the integration's dead letters; runs `fn`; closes. */
async function withDeadLetters<T>(o: Common, name: string, fn: (d: DeadLetters) => Promise<T>): Promise<T> {
  checkNames(o.tenant, o.integration);
  if (o.since !== undefined) parseSince(o.since);
  const access = await openTenantAccess({ ...o, name });
  try {
    return await fn(await DeadLetters.open(access.nc, o.tenant, o.integration));
  } finally {
    await access.close();
  }
}

/** A not-found is the user's to fix, but not a usage error: one line on stderr and exit 1. */
function notFound(ctx: CliContext, ids: string[], about: string): void {
  if (ids.length === 0) return;
  const list = ids.map((id) => `'${printable(id)}'`).join(", ");
  const e = new VrskyError("VRS_DEAD_LETTER_NOT_FOUND", `no dead letter ${list} of ${about}`);
  ctx.stderr.write(`vrsky: ${e.explain()}\n`);
  ctx.exitCode = 1;
}

/** `--id` or `--all`, exactly one. */
function selection(o: { id?: string[]; all?: boolean }): void {
  if (Boolean(o.id?.length) === Boolean(o.all))
    throw new VrskyError("VRS_USAGE", "name the dead letters with --id ID (repeatable), or pass --all");
}

export function registerDlq(program: Command, ctx: CliContext): void {
  const dlq = program
    .command("dlq")
    .description("An integration's dead letters: list, show, replay into its ingest stream, purge");
  const about = (o: Common) => `${o.tenant}/${o.integration}`;

  common(dlq.command("list").description("List the newest dead letters (oldest first)"))
    .addOption(sinceOption("a duration back from now such as 2h, or a time"))
    .option("--limit <n>", "show at most this many, the newest", "100")
    .addHelpText("after", "\nExit codes: 0 listed (also none), 2 usage or environment error.")
    .action(async (o: Common & { limit: string }) => {
      const limit = parseLimit(o.limit);
      await withDeadLetters(o, "vrsky-dlq", async (d) => {
        const progress = new Progress(ctx.stderr, 500);
        const since = o.since !== undefined ? parseSince(o.since) : undefined;
        const { items, matched } = await d.list({
          limit,
          ...(since ? { since } : {}),
          progress: (n, total) => progress.step(`reading dead letters… ${n}/${total}`),
        });
        progress.done();
        const rows = items.map(summary);
        if (o.format === "json")
          ctx.stdout.write(
            JSON.stringify(
              {
                formatVersion: 1,
                tenant: o.tenant,
                integration: o.integration,
                stream: d.streams.deadLetter,
                since: since?.toISOString() ?? null,
                matched,
                deadLetters: rows,
              },
              null,
              2,
            ) + "\n",
          );
        else ctx.stdout.write(renderList(rows, matched, about(o) + (since ? ` since ${since.toISOString()}` : "")));
      });
    });

  common(dlq.command("show").description("Show everything of a dead letter: context, original headers, body"))
    .requiredOption("--id <id>", "dead-letter sequence or message id")
    .option("--body", "print only the body (read from the object store when it is there), as it is", false)
    .addHelpText("after", "\nExit codes: 0 shown, 1 no such dead letter, 2 usage or environment error.")
    .action(async (o: Common & { id: string; body: boolean }) => {
      await withDeadLetters(o, "vrsky-dlq", async (d) => {
        const { found, notFound: missing } = await d.resolve([o.id]);
        notFound(ctx, missing, about(o));
        if (found.length === 0) return;
        if (o.body && o.format === "text") return printBodies(ctx, d, found);
        const shown: Array<[DeadLetter, BodyView]> = [];
        for (const dl of found) {
          const body = dl.payloadRef && !o.body ? undefined : await d.body(dl);
          shown.push([dl, bodyView(dl, d.streams.objectStore, body)]);
        }
        if (o.format === "json")
          ctx.stdout.write(
            JSON.stringify(
              {
                formatVersion: 1,
                tenant: o.tenant,
                integration: o.integration,
                deadLetters: shown.map(([dl, b]) => showJson(dl, b)),
              },
              null,
              2,
            ) + "\n",
          );
        else ctx.stdout.write(shown.map(([dl, b]) => renderShow(dl, b, about(o))).join("\n"));
      });
    });

  common(
    dlq.command("replay").description("Replay dead letters into the integration's ingest stream, then delete them"),
  )
    .option("--id <id...>", "dead-letter sequence or message id (repeatable)")
    .option("--all", "every dead letter (with --since: stored since then)", false)
    .addOption(sinceOption("with --all or --id"))
    .option("--only-failed", "send each only to the sinks that failed (Vrsky-Replay-Sinks)", false)
    .addHelpText(
      "after",
      "\nExit codes: 0 all replayed, 1 some not found or not replayed, 2 usage or environment error.",
    )
    .action(async (o: Common & { id?: string[]; all: boolean; onlyFailed: boolean }) => {
      selection(o);
      await withDeadLetters(o, "vrsky-dlq", async (d) => {
        const since = o.since !== undefined ? parseSince(o.since) : undefined;
        const replayer = new Replayer(d, { onlyFailed: o.onlyFailed });
        const progress = new Progress(ctx.stderr, 300);
        const results: ReplayResult[] = [];
        let missing: string[] = [];
        if (o.id) {
          const r = await d.resolve(o.id, since);
          missing = r.notFound;
          for (const dl of r.found) results.push(await replayer.replay(dl));
        } else {
          let batch: Array<Promise<ReplayResult>> = [];
          const flush = async () => {
            results.push(...(await Promise.all(batch)));
            batch = [];
            progress.step(`replaying… ${results.length}/${d.total}`);
          };
          for await (const raw of d.scan({ ...(since ? { since } : {}) })) {
            batch.push(replayer.replay(decodeDeadLetter(raw)));
            if (batch.length >= 64) await flush();
          }
          await flush();
        }
        progress.done();
        notFound(ctx, missing, about(o));
        const counts = countReplays(results, missing.length);
        if (counts.failed > 0) ctx.exitCode = 1;
        if (o.format === "json") {
          ctx.stdout.write(
            JSON.stringify(
              {
                formatVersion: 1,
                tenant: o.tenant,
                integration: o.integration,
                ...counts,
                notFoundIds: missing,
                results,
              },
              null,
              2,
            ) + "\n",
          );
          return;
        }
        const lines = results.filter((r) => results.length <= LINE_CAP || r.outcome === "failed").map(replayLine);
        lines.push(
          `${about(o)}: replayed ${counts.replayed}, replayed before ${counts.duplicate}, failed ${counts.failed}, not found ${counts.notFound}`,
        );
        ctx.stdout.write(lines.join("\n") + "\n");
      });
    });

  common(dlq.command("purge").description("Delete dead letters for good"))
    .option("--id <id...>", "dead-letter sequence or message id (repeatable)")
    .option("--all", "every dead letter (with --since: stored since then)", false)
    .addOption(sinceOption("with --all or --id"))
    .option("--yes", "do not ask for confirmation", false)
    .addHelpText(
      "after",
      "\nWithout --yes it asks on the terminal, and refuses when standard input is not one." +
        "\nExit codes: 0 purged (or answered no), 1 some not found, 2 usage or environment error.",
    )
    .action(async (o: Common & { id?: string[]; all: boolean; yes: boolean }) => {
      selection(o);
      await withDeadLetters(o, "vrsky-dlq", async (d) => {
        const since = o.since !== undefined ? parseSince(o.since) : undefined;
        let missing: string[] = [];
        let seqs: number[] = [];
        let upTo = 0;
        if (o.id) {
          const r = await d.resolve(o.id, since);
          missing = r.notFound;
          seqs = r.found.map((dl) => dl.seq);
        } else if (since) {
          for await (const raw of d.scan({ since, headersOnly: true })) seqs.push(raw.seq);
        } else {
          upTo = await d.lastSeq();
        }
        notFound(ctx, missing, about(o));
        const count = upTo > 0 ? d.total : seqs.length;
        if (count === 0 && upTo === 0) {
          report(ctx, o, 0, missing);
          return;
        }
        const question = `purge ${count} dead ${count === 1 ? "letter" : "letters"} of ${about(o)}?`;
        if (!o.yes && !(await confirm(question, ctx.stderr, "--yes"))) {
          ctx.stderr.write("nothing purged\n");
          return;
        }
        let purged = 0;
        if (upTo > 0) purged = await d.purgeUpTo(upTo);
        else
          for (let i = 0; i < seqs.length; i += 64) {
            const done = await Promise.all(seqs.slice(i, i + 64).map((s) => d.delete(s)));
            purged += done.filter(Boolean).length;
          }
        report(ctx, o, purged, missing);
      });
    });
}

function report(ctx: CliContext, o: Common, purged: number, missing: string[]): void {
  if (o.format === "json")
    ctx.stdout.write(
      JSON.stringify(
        { formatVersion: 1, tenant: o.tenant, integration: o.integration, purged, notFoundIds: missing },
        null,
        2,
      ) + "\n",
    );
  else
    ctx.stdout.write(`purged ${purged} dead ${purged === 1 ? "letter" : "letters"} of ${o.tenant}/${o.integration}\n`);
}

/** `show --body`: the bodies as they are when piped; escaped text on a terminal. */
async function printBodies(ctx: CliContext, d: DeadLetters, found: DeadLetter[]): Promise<void> {
  for (const dl of found) {
    const body = await d.body(dl);
    if (body === null) {
      const e = new VrskyError(
        "VRS_PAYLOAD_MISSING",
        `the body of dead letter ${dl.seq} (object ${dl.payloadRef}) is gone from ${d.streams.objectStore}`,
      );
      ctx.stderr.write(`vrsky: ${e.explain()}\n`);
      ctx.exitCode = 1;
      continue;
    }
    if (ctx.stdout.isTTY) {
      const text = utf8Text(body);
      ctx.stdout.write(
        text !== undefined
          ? printableBlock(text) + (text.endsWith("\n") ? "" : "\n")
          : `(${body.length} bytes, not UTF-8 text: redirect to a file to get them)\n`,
      );
    } else writeBytes(ctx.stdout, body);
  }
}
