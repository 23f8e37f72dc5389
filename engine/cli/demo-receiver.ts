/**
 * The stand-in receiver of `vrsky up`: a small HTTP server on loopback that plays the part of the bundled
 * examples' outside services (the Slack webhook of acme/orders-to-slack), so that a new user sees a message
 * arrive without an account anywhere. It answers 200 and prints one line per request; the demo secrets point
 * the examples' `secretRef`s at it (engine/cli/demo-secrets.ts).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { bindHost, httpUrl, listenFailure, type ListenAddress } from "../util/listen-address.js";
import { printable } from "../util/printable.js";

export interface DemoReceiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Requests received so far. */
  count(): number;
  close(): Promise<void>;
}

const EXCERPT = 300;

export async function startDemoReceiver(listen: ListenAddress, print: (line: string) => void): Promise<DemoReceiver> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= EXCERPT) chunks.push(c);
    });
    req.on("end", () => {
      count++;
      const body = Buffer.concat(chunks).toString("utf8").slice(0, EXCERPT);
      const key = req.headers["idempotency-key"];
      print(
        `stand-in receiver: ${req.method} ${printable(req.url ?? "/")}` +
          `${key ? ` (Idempotency-Key ${printable(String(key))})` : ""}: ${printable(body)}${size > EXCERPT ? "…" : ""}`,
      );
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listen.port, bindHost(listen), () => resolve());
    });
  } catch (e) {
    server.close();
    throw listenFailure("--receiver-listen", listen, e);
  }
  return {
    url: httpUrl(server.address() as AddressInfo),
    count: () => count,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
