/** Machine facts for benchmark reports: CPU model, cores, memory, Node and jax-js versions. */
import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  node: string;
  jaxjs: string;
  date: string;
}

export function machineInfo(): MachineInfo {
  const require = createRequire(import.meta.url);
  // The package's exports map hides package.json; find it beside the resolved entry (dist/..).
  const entry = require.resolve("@jax-js/jax");
  const jaxPkg = JSON.parse(readFileSync(join(dirname(entry), "..", "package.json"), "utf8")) as { version: string };
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    jaxjs: jaxPkg.version,
    date: new Date().toISOString().slice(0, 10),
  };
}
