import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { errorMessage } from "../errors/errors.js";
import { bindHost, httpUrl, listenFailure, type ListenAddress } from "../util/listen-address.js";
import { METRICS_CONTENT_TYPE, type Telemetry } from "./telemetry.js";

/** What the probe server asks of the process it serves (a reconciler or a worker). */
export interface ProbeTarget {
  isReady(): boolean;
}

/**
 * /healthz (process alive), /readyz (the target says it is ready) and /metrics (every series of the process's
 * Telemetry, Prometheus text), on `addr` (engine/util/listen-address.ts). A bind failure is VRS_LISTEN_FAILED
 * naming `flag`.
 */
export async function serveProbes(
  r: ProbeTarget,
  telemetry: Pick<Telemetry, "scrape">,
  addr: ListenAddress,
  flag = "--listen",
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
    } else if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (req.url === "/readyz") {
      const ready = r.isReady();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
    } else if (req.url === "/metrics") {
      telemetry.scrape().then(
        (text) => res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE }).end(text),
        (e: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`${errorMessage(e)}\n`),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(addr.port, bindHost(addr), () => resolve());
    });
  } catch (e) {
    server.close();
    throw listenFailure(flag, addr, e);
  }
  return { server, url: httpUrl(server.address() as AddressInfo) };
}
