/**
 * A run folder: everything one training run leaves behind, readable without worldkit.
 *
 *   config.json     the resolved config (pretty JSON), so a run can be repeated or resumed
 *   command.txt     the command line(s) that started and resumed it
 *   metrics.jsonl   one JSON object per line, appended as training goes
 *   ckpt-*.safetensors  checkpoints (see checkpoint.ts)
 *
 * Metrics lines are appended with one write each and fsync'd every few seconds: a crash loses at
 * most the lines since the last fsync, and tears at most the last line, which `readMetrics`
 * skips and the next `appendMetrics` (in a new process) cuts off before writing.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/checkpoint.js";

export const CONFIG_FILE = "config.json";
export const COMMAND_FILE = "command.txt";
export const METRICS_FILE = "metrics.jsonl";

/** Seconds between fsyncs of metrics.jsonl: often enough to lose little, rarely enough to cost nothing. */
const METRICS_FSYNC_SECONDS = 5;

export interface RunFolderOptions {
  /** The resolved config of the run. */
  config: unknown;
  /** The command that started it (argv, or one line). */
  command: string | string[];
  /** Continue an existing run: allowed to replace its config.json; the command is appended. */
  resume?: boolean;
}

/** Quote argv for a shell, so command.txt can be pasted back into one. */
function shellLine(command: string | string[]): string {
  if (typeof command === "string") return command;
  return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

function prettyJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Create (or reopen) a run folder and write config.json and command.txt. Refuses to replace a
 * different run's config unless `resume` is set, so two runs cannot mix in one folder.
 */
export async function createRunFolder(dir: string, opts: RunFolderOptions): Promise<void> {
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, CONFIG_FILE);
  const text = prettyJson(opts.config);
  let existing: string | null = null;
  try {
    existing = await readFile(configPath, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (existing !== null && !opts.resume && !sameJson(existing, opts.config)) {
    throw new Error(
      `${configPath} holds a different run's config; choose another folder, ` +
        `or resume that run (--resume) to continue it with this config`,
    );
  }
  await writeFileAtomic(configPath, [new TextEncoder().encode(text)]);
  const line = `${shellLine(opts.command)}\n`;
  await writeFile(join(dir, COMMAND_FILE), line, { flag: opts.resume ? "a" : "w" });
}

function sameJson(text: string, value: unknown): boolean {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
}

/** Last fsync time per metrics file; files not yet appended to by this process are absent. */
const lastSync = new Map<string, number>();

/**
 * Append one record as a JSON line to `dir/metrics.jsonl`. Non-finite numbers become null
 * (JSON has no NaN). The first append in a process cuts a torn last line left by a crash.
 */
export function appendMetrics(dir: string, record: Record<string, unknown>): void {
  const path = join(dir, METRICS_FILE);
  const line = Buffer.from(`${JSON.stringify(record)}\n`);
  const fd = openSync(path, "a+");
  try {
    if (!lastSync.has(path)) {
      cutTornTail(fd);
      lastSync.set(path, 0);
    }
    writeSync(fd, line);
    const now = Date.now();
    if (now - (lastSync.get(path) ?? 0) >= METRICS_FSYNC_SECONDS * 1000) {
      fsyncSync(fd);
      lastSync.set(path, now);
    }
  } finally {
    closeSync(fd);
  }
}

/** Force metrics.jsonl to disk (at the end of a run, or beside a checkpoint). */
export function flushMetrics(dir: string): void {
  const path = join(dir, METRICS_FILE);
  let fd: number;
  try {
    fd = openSync(path, "r+");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  try {
    fsyncSync(fd);
    lastSync.set(path, Date.now());
  } finally {
    closeSync(fd);
  }
}

/**
 * If the file does not end in a newline, a crash tore its last line: drop it, or, if it is whole
 * JSON (the crash came just before the newline), finish it.
 */
function cutTornTail(fd: number): void {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  // A metrics line is short, so the last 64 KiB hold the tail unless the file is one huge line.
  const start = Math.max(0, size - (1 << 16));
  const chunk = Buffer.alloc(size - start);
  readSync(fd, chunk, 0, chunk.length, start);
  const at = chunk.lastIndexOf(0x0a);
  if (at === chunk.length - 1) return;
  const tail = chunk.subarray(at + 1).toString("utf8");
  if (isJson(tail)) writeSync(fd, "\n");
  else ftruncateSync(fd, at >= 0 ? start + at + 1 : start === 0 ? 0 : size);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read every record of `dir/metrics.jsonl` ([] when there is none). A torn last line is skipped;
 * a bad line anywhere else is an error naming its line number.
 */
export async function readMetrics(dir: string): Promise<Record<string, unknown>[]> {
  const path = join(dir, METRICS_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const lines = text.split("\n");
  const complete = text.endsWith("\n");
  if (complete) lines.pop();
  const out: Record<string, unknown>[] = [];
  for (const [i, line] of lines.entries()) {
    const last = i === lines.length - 1;
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      if (last && !complete) break; // torn by a crash mid-write
      throw new Error(`${path}:${i + 1}: not a JSON line; the file was edited or damaged`);
    }
  }
  return out;
}
