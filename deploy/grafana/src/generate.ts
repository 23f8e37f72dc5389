/** `npm run dashboards`: writes deploy/grafana/*.json from dashboards.ts. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../../engine/util/package-root.js";
import { renderDashboards } from "./dashboards.js";

const dir = join(packageRoot(), "deploy", "grafana");
for (const [file, text] of renderDashboards()) {
  writeFileSync(join(dir, file), text);
  console.log(`wrote deploy/grafana/${file}`);
}
