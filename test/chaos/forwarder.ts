/**
 * A TCP forwarder: listens on `host:port` and pipes each connection to `to:toPort` (either side closing or failing
 * ends both). The chaos run's network namespace reaches the host's loopback through two of them (netns.ts).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export async function forwardPort(
  host: string,
  port: number,
  to: string,
  toPort: number,
  sockets: Set<Socket>,
): Promise<Server> {
  const server = createServer((down) => {
    const up = createConnection({ host: to, port: toPort });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => (down.destroy(), up.destroy()));
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => ok());
  });
  return server;
}
