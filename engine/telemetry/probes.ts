import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
/** What the probe server asks of the process it serves (a reconciler or a worker). */
export interface ProbeTarget {
  isReady(): boolean;
  metrics: { render(): string };
}

/** /healthz (process alive), /readyz (the target says it is ready) and /metrics (Prometheus text). */
export async function serveProbes(r: ProbeTarget, addr: string): Promise<{ server: Server; url: string }> {
  const [host, port] = splitAddr(addr);
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
    } else if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (req.url === "/readyz") {
      const ready = r.isReady();
      res.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
    } else if (req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(r.metrics.render());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { server, url: `http://${a.address}:${a.port}` };
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return i < 0 ? ["127.0.0.1", Number(addr)] : [addr.slice(0, i) || "127.0.0.1", Number(addr.slice(i + 1))];
}
