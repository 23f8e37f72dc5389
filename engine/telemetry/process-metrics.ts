/**
 * The process series every VRSky process exposes, under the names Prometheus' own client libraries use (so that
 * common dashboards work), and `vrsky_build_info{version,node}` 1.
 */
import type { Meter } from "@opentelemetry/api";

export function registerProcessMetrics(meter: Meter, version: string): void {
  const startSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);
  meter
    .createObservableCounter("process_cpu_seconds_total", { description: "User and system CPU time spent, in seconds" })
    .addCallback((r) => {
      const u = process.cpuUsage();
      r.observe((u.user + u.system) / 1e6);
    });
  meter
    .createObservableGauge("process_resident_memory_bytes", { description: "Resident memory size in bytes" })
    .addCallback((r) => r.observe(process.memoryUsage.rss()));
  meter
    .createObservableGauge("process_start_time_seconds", {
      description: "Start time of the process since the Unix epoch, in seconds",
    })
    .addCallback((r) => r.observe(startSeconds));
  meter
    .createObservableGauge("nodejs_heap_size_used_bytes", { description: "V8 heap in use, in bytes" })
    .addCallback((r) => r.observe(process.memoryUsage().heapUsed));
  meter
    .createObservableGauge("vrsky_build_info", {
      description: "Always 1; the labels say which VRSky version and Node.js runtime run",
    })
    .addCallback((r) => r.observe(1, { version, node: process.versions.node }));
}
