#!/usr/bin/env node
/**
 * Run inside the chaos run's network namespace (`ip netns exec <ns> node ns-forwarder.js <host> <port>...`):
 * forwards 127.0.0.1:<port> of the namespace to <host>:<port> (the host's side of the veth pair, where netns.ts
 * forwards on to the host's loopback), so that a worker in the namespace reaches NATS and the stand-in receiver
 * at the addresses every other process uses. Prints `ready` once it listens; runs until killed.
 */
import type { Socket } from "node:net";
import { forwardPort } from "./forwarder.js";

const [host, ...ports] = process.argv.slice(2);
const sockets = new Set<Socket>();
await Promise.all(ports.map((p) => forwardPort("127.0.0.1", Number(p), host!, Number(p), sockets)));
process.stdout.write("ready\n");
