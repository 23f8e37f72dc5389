/** The bodies every route shares: a "not found" and an "unauthorized" that never differ, and small JSON errors. */
import type { FastifyReply } from "fastify";

/** The one answer to anything that is not there or not the caller's: identical bytes every time. */
export const NOT_FOUND_BODY = '{"error":"not found"}';
/** The one answer to a request without a valid key, whatever is wrong with it. */
export const UNAUTHORIZED_BODY = '{"error":"unauthorized: send Authorization: Bearer <key>"}';
const JSON_TYPE = "application/json; charset=utf-8";

export function sendJson(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header("content-type", JSON_TYPE).send(body);
}

export function problem(reply: FastifyReply, status: number, message: string): FastifyReply {
  return sendJson(reply, status, JSON.stringify({ error: message }));
}
