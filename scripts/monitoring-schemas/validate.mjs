// Validates Prometheus Operator objects against the schemas generated from the Prometheus
// Operator's Go types (@kubernetes-models/prometheus-operator, pinned in package.json).
// Usage: node validate.mjs FILE...   (each FILE: a JSON array of objects)
// Prints one line per invalid object and exits 1 if any; unknown kinds are errors too.
import { readFileSync } from "node:fs";
import { PodMonitor, PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = { PodMonitor, PrometheusRule, ServiceMonitor };
let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const object of JSON.parse(readFileSync(file, "utf8"))) {
    const where = `${file}: ${object.kind} ${object.metadata?.name}`;
    const Model = models[object.kind];
    if (object.apiVersion !== "monitoring.coreos.com/v1" || !Model) {
      console.log(`ERROR ${where}: not a monitoring.coreos.com/v1 kind this checks`);
      failures++;
      continue;
    }
    try {
      new Model(object).validate();
      checked++;
    } catch (e) {
      console.log(`ERROR ${where}: ${e.message}`);
      failures++;
    }
  }
}
console.log(`${checked} valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);
