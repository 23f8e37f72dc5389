/**
 * The platform's read-only user (`vrsky creds --reader`): a user of the platform account that may read the state
 * buckets (a KV get, a bucket's status, a watch through an ordered consumer) and nothing else. It cannot publish to
 * `$KV.>` (a KV put or delete), create, change, purge or delete a stream, or reach a tenant's account. What it can
 * add on the server is a consumer (its watches' ordered consumers, which hold no data and go away by themselves):
 * it cannot delete one.
 * `vrsky pr-check --nats` plans against the live state with it, and refuses creds that may publish more.
 *
 * Only the JWT of a creds file is read to judge it; its seed is never looked at.
 */
import { fmtCreds } from "@nats-io/jwt";
import { errorMessage, VrskyError } from "../errors/errors.js";
import { FastKeyPair } from "./fast-keys.js";
import { decodeJwt, signJwt } from "./jwt.js";
import type { VrskyKeys } from "./keys.js";
import { readCredsJwt } from "./platform-user.js";

/**
 * The subjects the reader may publish to: JetStream API requests that read (account info, stream info, stored and
 * direct message gets), and the creation and flow control of the ordered consumer a KV watch uses. Each is a
 * request; the answers come to the reader's inbox. Not deleting its consumer when a watch stops (no
 * `$JS.API.CONSUMER.DELETE`) is harmless: an ordered consumer is ephemeral and the server removes it once idle;
 * in exchange the reader cannot delete anyone else's consumer.
 */
export const READER_PUBLISH = Object.freeze([
  "$JS.API.INFO",
  "$JS.API.STREAM.INFO.*",
  "$JS.API.STREAM.MSG.GET.*",
  "$JS.API.DIRECT.GET.*",
  "$JS.API.DIRECT.GET.*.>",
  "$JS.API.CONSUMER.CREATE.*.>",
  "$JS.FC.>",
]);

/** The subjects the reader may subscribe to: its inboxes (replies and the watch's deliveries). */
export const READER_SUBSCRIBE = Object.freeze(["_INBOX.>"]);

export const READER_TAG = "vrsky-reader";

/** A read-only user of the platform account, signed by its key; `creds` holds the user's seed (SECRET). */
export function readerUser(
  keys: VrskyKeys,
  o: { ttlSeconds: number; name?: string },
): { creds: string; userPublicKey: string; expiresAt: string } {
  const user = FastKeyPair.create("user");
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + Math.max(1, Math.ceil(o.ttlSeconds));
  const jwt = signJwt(
    "user",
    {
      name: o.name ?? "vrsky-reader",
      sub: user.getPublicKey(),
      exp,
      nats: {
        pub: { allow: [...READER_PUBLISH] },
        sub: { allow: [...READER_SUBSCRIBE] },
        subs: -1,
        data: -1,
        payload: -1,
        bearer_token: false,
        tags: [READER_TAG],
      },
    },
    keys.platformAccount,
    iat,
  );
  const creds = new TextDecoder().decode(fmtCreds(jwt, user));
  user.clear();
  const out = { userPublicKey: user.getPublicKey(), expiresAt: new Date(exp * 1000).toISOString() };
  Object.defineProperty(out, "creds", { value: creds, enumerable: false });
  return out as typeof out & { creds: string };
}

interface Permission {
  allow?: string[];
  deny?: string[];
}

/**
 * Why a user JWT's claims may write (publish beyond READER_PUBLISH); undefined when they are read-only. A user
 * without a publish allow list may publish anywhere its account lets it, a KV put included.
 */
export function writableBecause(nats: { pub?: Permission } | undefined): string | undefined {
  const allow = nats?.pub?.allow;
  if (!allow || allow.length === 0) return "it may publish to any subject (no publish allow list), a KV put included";
  const extra = allow.filter((s) => !READER_PUBLISH.includes(s));
  if (extra.length > 0) return `it may publish to ${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", …" : ""}`;
  return undefined;
}

/**
 * Checks that the creds file at `path` (given with `flag`) is read-only, from its user JWT's permissions. Throws
 * VRS_CREDS_INVALID for a file that is not creds, VRS_CREDS_WRITABLE for creds that may write.
 */
export function checkReadOnlyCreds(path: string, flag = "--creds"): void {
  const jwt = readCredsJwt(path, flag);
  let why: string | undefined;
  try {
    why = writableBecause(decodeJwt<{ pub?: Permission }>(jwt, false).nats);
  } catch (e) {
    throw new VrskyError("VRS_CREDS_INVALID", `${flag} ${path}: its user JWT is damaged (${errorMessage(e)})`, {
      cause: e,
    });
  }
  if (why)
    throw new VrskyError(
      "VRS_CREDS_WRITABLE",
      `${flag} ${path} can write to the live state (${why}); pr-check runs on pull requests and takes read-only creds only: issue them with \`vrsky creds --reader --keys DIR\``,
    );
}
