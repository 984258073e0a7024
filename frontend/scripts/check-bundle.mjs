// Fails the build when the JavaScript the first screen loads is over budget (gzipped).
//
// The first screen is `/`, which shows the markets table: the entry chunk, every chunk it
// imports statically, and the lazily loaded Markets page with its own static imports. Other
// routes load later and are not counted. Reads Vite's manifest; prints the figure and writes
// it to dist/bundle-size.json so CI logs and docs/performance.md can carry it.
import { readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const BUDGET_BYTES = 250 * 1024;
const FIRST_SCREEN = ["index.html", "src/pages/Markets.tsx"];
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));

const files = new Set();
function visit(key) {
  const chunk = manifest[key];
  if (!chunk) {
    console.error(`check-bundle: ${key} is not in the build manifest`);
    process.exit(1);
  }
  if (files.has(chunk.file)) return;
  files.add(chunk.file);
  for (const imported of chunk.imports ?? []) visit(imported);
}
FIRST_SCREEN.forEach(visit);

let total = 0;
for (const file of [...files].filter((f) => f.endsWith(".js")).sort()) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  console.log(`  ${file}: ${(size / 1024).toFixed(1)} KB gzipped`);
}
const line = `first screen JavaScript: ${(total / 1024).toFixed(1)} KB gzipped (budget ${BUDGET_BYTES / 1024} KB)`;
writeFileSync(
  join(dist, "bundle-size.json"),
  JSON.stringify({ initial_js_gzip_bytes: total, budget_bytes: BUDGET_BYTES, files: [...files] }) + "\n",
);
if (total > BUDGET_BYTES) {
  console.error(`check-bundle: ${line}: over budget`);
  process.exit(1);
}
console.log(line);
