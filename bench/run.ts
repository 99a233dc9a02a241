/**
 * `npm run bench`: runs every benchmark in a fresh child process (per thread count where that
 * matters, since jax-js fixes its thread pool when it loads), prints a table, and writes
 * its blocks of bench/RESULTS.md with the date and machine (bench/report.ts: the rest of the file
 * stays). `npm run bench -- --only matmul,stblock`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { machineInfo } from "./machine.js";
import { mergeResults } from "./report.js";
import type { BenchSection } from "./report.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");

interface Bench {
  name: string;
  script: string;
  threads: number[];
  /** Render this benchmark's JSON results (one per thread count) as markdown. */
  render(results: Record<string, unknown>[]): string;
}

type Row = Record<string, unknown>;

function table(header: string[], rows: (string | number)[][]): string {
  const fmt = (v: string | number) => (typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : v);
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(fmt).join(" | ")} |`),
  ].join("\n");
}

const BENCHES: Bench[] = [
  {
    name: "matmul",
    script: "bench/matmul.ts",
    threads: [1, 2],
    render(results) {
      const rows: (string | number)[][] = [];
      const byShape = new Map<string, Row[]>();
      for (const r of results) {
        for (const m of r.matmul as Row[]) byShape.set(m.shape as string, [...(byShape.get(m.shape as string) ?? []), { ...m, threads: r.threads }]);
      }
      for (const [shape, rs] of byShape) {
        const one = rs.find((r) => r.threads === 1);
        const two = rs.find((r) => r.threads === 2);
        rows.push([shape, (one?.gflops as number) ?? NaN, (two?.gflops as number) ?? NaN, ((two?.gflops as number) ?? NaN) / ((one?.gflops as number) ?? NaN)]);
      }
      return "### fp32 matmul, jax-js wasm (GFLOP/s)\n\n" + table(["M×K×N", "1 thread", "2 threads", "speed-up"], rows);
    },
  },
  {
    name: "stblock",
    script: "bench/st-block.ts",
    threads: [1, 2],
    render(results) {
      const rows: (string | number)[][] = [];
      for (const r of results) {
        for (const s of r.shapes as Row[]) {
          rows.push([s.name as string, s.shape as string, s.backend as string, String(r.threads), s.ms as number, s.tokensPerSec as number, s.load as number]);
        }
      }
      return (
        "### ST block forward + backward (one block, jit vs onnxruntime)\n\n" +
        "B is a batch jax-js fits in wasm's 4 GiB call after call (its jit allocates all intermediates at once); both backends run it; " +
        "load is the 1-minute load average of the 2-core machine during the run.\n\n" +
        table(["shape", "B,T,N,D,heads", "backend", "threads", "ms/step", "tokens/s", "load"], rows)
      );
    },
  },
  {
    name: "adamw",
    script: "bench/adamw.ts",
    threads: [1, 2],
    render(results) {
      const rows = results.map((r) => [String(r.params), String(r.threads), r.ms as number, r.load as number]);
      return "### AdamW update (jit, with global-norm clipping)\n\n" + table(["params", "threads", "ms/step", "load"], rows);
    },
  },
  {
    name: "ort",
    script: "bench/ort.ts",
    threads: [1, 2],
    render(results) {
      const train: (string | number)[][] = [];
      const mm: (string | number)[][] = [];
      const inf: (string | number)[][] = [];
      for (const r of results) {
        const t = String(r.threads);
        const m = r.matmul as Row;
        const peak = m.ortFp32 as number;
        mm.push([`${m.n}³`, t, m.jax as number, m.ortFp32 as number, m.ortInt8 as number, m.load as number]);
        const i = r.inference as Row;
        inf.push([i.shape as string, t, i.fp32Ms as number, i.int8Ms as number, (i.fp32Ms as number) / (i.int8Ms as number), `${(100 * (i.relErr as number)).toFixed(2)}%`, i.load as number]);
        for (const s of r.train as Row[]) {
          const rows = s.rows as Row[];
          const jaxRate = rows[0].tokensPerSec as number;
          for (const row of rows) {
            const rate = row.tokensPerSec as number;
            const pct = `${((100 * (row.achievedGflops as number)) / peak).toFixed(0)}%`;
            train.push([s.name as string, s.shape as string, row.backend as string, String(row.B), t, row.ms as number, rate, rate / jaxRate, row.achievedGflops as number, pct, s.load as number]);
          }
        }
      }
      return [
        "### Training step: jax-js vs onnxruntime (ST stack, MSE loss, AdamW)",
        "",
        "Shapes B,T,N,D,L; heads D/32, MLP 4D. jax-js runs a batch that fits its 4 GiB step after step (column B); onnxruntime runs that batch and the full one. " +
          "tokens/s counts B·T·N per step; matmul GFLOP/s is the step's matmul FLOPs over its time, against the peak measured below (onnxruntime fp32 1024³ at the same threads).",
        "",
        table(["shape", "B,T,N,D,L", "backend", "B run", "threads", "ms/step", "tokens/s", "× jax-js", "matmul GFLOP/s", "of peak", "load"], train),
        "",
        "### Matmul GFLOP/s (1024³): jax-js vs onnxruntime fp32 vs int8 (weight constant, DynamicQuantizeMatMul)",
        "",
        table(["size", "threads", "jax-js", "ort fp32", "ort int8", "load"], mm),
        "",
        "### Inference: ST stack forward on onnxruntime, fp32 vs int8",
        "",
        table(["B,T,N,D,L", "threads", "fp32 ms", "int8 ms", "speed-up", "int8 rel. RMS error", "load"], inf),
      ].join("\n");
    },
  },
  {
    name: "datagen",
    script: "bench/datagen.ts",
    threads: [1],
    render(results) {
      const r = results[0];
      const rows = (r.worlds as Row[]).map((w) => [w.world as string, w.frames as number, w.seconds as number, w.framesPerSec as number, r.load as number]);
      return "### Dataset generation, 64×64 RGB + depth + states (`worldkit data generate`)\n\n" + table(["world", "frames", "seconds", "frames/s", "load"], rows);
    },
  },
  {
    name: "session",
    script: "bench/session.ts",
    threads: [1, 2],
    render(results) {
      const r = results[0];
      if (r.skipped) return `### WorldSession step (skipped: ${r.skipped as string})`;
      const n = (v: unknown) => (typeof v === "number" ? v : "–");
      const rows = results.flatMap((x) =>
        (x.rows as Row[]).map((b) => [b.backend as string, String(x.threads), b.median as number, b.p99 as number, n(b.sample), n(b.decode), b.at10 as number, b.atEnd as number, `${(b.ratio as number).toFixed(3)} @ ${b.ratioStep as number}`, x.load as number]),
      );
      return (
        `### WorldSession step on ${r.world as string} (${r.size as string}, random actions)\n\n` +
        table(["backend", "threads", "median ms", "p99 ms", "dynamics ms", "decoder ms", "ms @ step 10", "ms @ late step", "ratio @ step", "load"], rows)
      );
    },
  },
];

function runChild(script: string, threads: number): Row {
  const res = spawnSync(process.execPath, ["--import", "tsx", "--import", "./src/core/worker-shim.ts", script], {
    cwd: root,
    env: { ...process.env, WORLDKIT_THREADS: String(threads) },
    encoding: "utf8",
    timeout: 10 * 60_000,
  });
  const line = res.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (res.status !== 0 || !line) throw new Error(`bench ${script} (threads=${threads}) failed:\n${res.stderr}`);
  return JSON.parse(line) as Row;
}

const onlyArg = process.argv.find((a) => a.startsWith("--only"));
const only = onlyArg ? (onlyArg.split("=")[1] ?? process.argv[process.argv.indexOf(onlyArg) + 1]).split(",") : null;
const m = machineInfo();
const sections: BenchSection[] = [];
for (const bench of BENCHES) {
  if (only && !only.includes(bench.name)) continue;
  const results = bench.threads.map((t) => {
    process.stderr.write(`bench ${bench.name} threads=${t} ...\n`);
    return runChild(bench.script, t);
  });
  const md = bench.render(results);
  console.log(md + "\n");
  sections.push({ name: bench.name, md });
}
const header = [
  "# worldkit benchmarks",
  "",
  "Regenerate with `npm run bench` (each benchmark runs in its own process per thread count; `-- --only session,datagen` runs some).",
  "A run replaces only its benchmarks' generated blocks (between `<!-- bench:NAME -->` markers); everything written around them stays.",
].join("\n");
const measured = `Measured ${m.date} on ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Node ${m.node}, jax-js ${m.jaxjs}.`;
const file = join(here, "RESULTS.md");
writeFileSync(file, mergeResults(existsSync(file) ? readFileSync(file, "utf8") : null, header, sections, measured));
console.log(`wrote bench/RESULTS.md (${sections.map((s) => s.name).join(", ")})`);
