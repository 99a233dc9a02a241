/**
 * Training checkpoints: one safetensors file holding the parameters (`params.*`), the optimizer
 * state (`opt.*`) and, in `__metadata__`, the step, the resolved config and whatever else a
 * resumed run needs (`extra`: data-loader position, seeds).
 *
 * Files are written atomically (temp file in the same folder, fsync, rename, fsync the folder), so
 * a crash or a kill at any moment leaves the previous checkpoint whole. Loading checks everything
 * it can and names the file in every error: a foreign or truncated file, a safetensors file that
 * is not ours, and (given a template) the first name, shape or dtype that differs from the model.
 */
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { open, readFile, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ParamTree, Skeleton, TreeTemplate } from "./tree-names.js";
import { compareNames, isTensorSpec, jaxDType, namedSpecs, skeletonOf, tensorsToTreeLike, treeToTensors } from "./tree-names.js";
import { decodeSafetensors, planSafetensors, tensorBytes } from "./safetensors.js";
import type { Tensor } from "./safetensors.js";

export const CHECKPOINT_FORMAT = "worldkit-checkpoint";
/** Bumped when the layout changes in a way older readers would misread. */
export const CHECKPOINT_VERSION = 1;

const PARAMS = "params";
const OPT = "opt";
const CKPT_NAME = /^ckpt-(\d+)\.safetensors$/;
const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]+$/;

export interface CheckpointData {
  /** The parameter tree (not consumed). */
  params: ParamTree;
  /** The optimizer state tree, if training is to resume (not consumed). */
  optState?: ParamTree | null;
  /** Optimizer steps taken so far. */
  step: number;
  /** The resolved config of the run, stored as JSON. */
  config: unknown;
  /** Anything else a resumed run needs (loader position, seeds); must survive JSON. */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint<C = unknown> {
  params: ParamTree;
  /** null when the file has no optimizer state or `loadOptState` was false. */
  optState: ParamTree | null;
  step: number;
  config: C;
  extra: Record<string, unknown>;
}

export interface LoadOptions {
  /** Check the parameters against this tree of arrays or `{ shape, dtype }` specs and give them its structure. */
  template?: TreeTemplate;
  /** The same for the optimizer state. */
  optTemplate?: TreeTemplate;
  /** Create the optimizer-state arrays (default true; false for inference). */
  loadOptState?: boolean;
}

/** `dir/ckpt-000500.safetensors`: zero-padded so a listing sorts by step. */
export function checkpointPath(dir: string, step: number): string {
  return join(dir, `ckpt-${String(step).padStart(6, "0")}.safetensors`);
}

/**
 * Write `chunks` to `path` so that readers see either the old file or the whole new one: a
 * uniquely named temp file in the same folder (rename is atomic only within one file system),
 * fsync'd before the rename, then the folder fsync'd so the rename itself survives a power cut.
 */
export async function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  const file = await open(tmp, "wx");
  try {
    try {
      for (const chunk of chunks) {
        for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at, chunk.length - at)).bytesWritten;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch (e) {
    // Windows cannot fsync a folder; its rename is durable enough there.
    if (process.platform !== "win32") throw e;
  } finally {
    await handle.close();
  }
}

/**
 * Save a checkpoint atomically (see `writeFileAtomic`). Nothing passed in is consumed, but the
 * arrays are read asynchronously: await this before disposing or donating them.
 */
export async function saveCheckpoint(path: string, data: CheckpointData): Promise<void> {
  if (!Number.isSafeInteger(data.step) || data.step < 0) {
    throw new Error(`saveCheckpoint ${path}: step must be a non-negative integer, got ${data.step}`);
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    version: String(CHECKPOINT_VERSION),
    step: String(data.step),
    config: JSON.stringify(data.config ?? null),
    extra: JSON.stringify(data.extra ?? {}),
    [`${PARAMS}.tree`]: JSON.stringify(skeletonOf(data.params)),
  };
  const tensors = await treeToTensors(data.params, PARAMS);
  if (data.optState) {
    metadata[`${OPT}.tree`] = JSON.stringify(skeletonOf(data.optState));
    Object.assign(tensors, await treeToTensors(data.optState, OPT));
  }
  const plan = planSafetensors(tensors, metadata);
  await writeFileAtomic(path, [plan.head, ...plan.order.map((name) => tensorBytes(tensors[name]))]);
}

/** Load a checkpoint, creating new arrays (the caller owns them). */
export async function loadCheckpoint<C = unknown>(path: string, opts: LoadOptions = {}): Promise<LoadedCheckpoint<C>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === "ENOENT" ? `no checkpoint at ${path}` : `cannot read checkpoint ${path}: ${err.message}`);
  }
  const { tensors, metadata } = decodeSafetensors(bytes, path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(
      `${path}: a safetensors file, but not a worldkit checkpoint (its metadata has no format "${CHECKPOINT_FORMAT}"); ` +
        `to load bare weights use decodeSafetensors from src/core/safetensors.ts`,
    );
  }
  const version = Number(metadata.version);
  if (!Number.isInteger(version) || version < 1 || version > CHECKPOINT_VERSION) {
    throw new Error(`${path}: checkpoint version ${JSON.stringify(metadata.version)} is not one this worldkit reads (1..${CHECKPOINT_VERSION}); upgrade worldkit`);
  }
  const step = Number(metadata.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${path}: metadata step ${JSON.stringify(metadata.step)} is not a non-negative integer`);
  const config = parseJson(metadata.config ?? "null", "config", path) as C;
  const extra = parseJson(metadata.extra ?? "{}", "extra", path) as Record<string, unknown>;
  for (const name of Object.keys(tensors)) {
    if (!name.startsWith(`${PARAMS}.`) && !name.startsWith(`${OPT}.`)) {
      throw new Error(`${path}: tensor "${name}" is neither "${PARAMS}.*" nor "${OPT}.*"; the file is not a checkpoint this worldkit wrote`);
    }
  }
  const hasOpt = metadata[`${OPT}.tree`] !== undefined;
  if (opts.optTemplate && !hasOpt) throw new Error(`${path}: checkpoint has no optimizer state, but one was expected`);
  // Check both trees before creating any array, so a mismatch leaves nothing to dispose.
  const paramsShape = checkedStructure(path, tensors, PARAMS, metadata, opts.template);
  const optShape = hasOpt && opts.loadOptState !== false ? checkedStructure(path, tensors, OPT, metadata, opts.optTemplate) : null;
  const params = tensorsToTreeLike(paramsShape, tensors, PARAMS);
  const optState = optShape === null ? null : tensorsToTreeLike(optShape, tensors, OPT);
  return { params, optState, step, config, extra };
}

function parseJson(text: string, key: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: metadata "${key}" is not valid JSON (${(e as Error).message})`);
  }
}

/** Check one tree's tensors against its template (or its stored skeleton); returns the structure to build. */
function checkedStructure(
  path: string,
  tensors: Record<string, Tensor>,
  prefix: string,
  metadata: Record<string, string>,
  template?: TreeTemplate,
): TreeTemplate | Skeleton {
  const stored = metadata[`${prefix}.tree`];
  if (stored === undefined) throw new Error(`${path}: metadata "${prefix}.tree" is missing; the file is damaged or not ours`);
  const structure = template ?? (parseJson(stored, `${prefix}.tree`, path) as Skeleton);
  const problems = compareToTemplate(structure, tensors, prefix);
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more difference${problems.length > 2 ? "s" : ""})` : "";
    const what = template ? "does not match the expected model" : "does not match its own stored structure (damaged file)";
    throw new Error(`${path}: checkpoint ${what}: ${problems[0]}${more}; check that the config matches the one the checkpoint was trained with`);
  }
  return structure;
}

/**
 * Every difference between the tensors under `prefix` and a template, in template order (missing,
 * shape, dtype), then unexpected names. The first one is what the error reports.
 */
export function compareToTemplate(template: TreeTemplate | Skeleton, tensors: Record<string, Tensor>, prefix: string): string[] {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const [name, spec] of namedSpecsOrSkeleton(template, prefix)) {
    expected.add(name);
    const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
    if (!t) {
      problems.push(`missing key "${name}"`);
      continue;
    }
    if (!spec) continue;
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      problems.push(`"${name}" has shape [${t.shape.join(",")}] but the model expects [${spec.shape.join(",")}]`);
    } else if (jaxDType(t.dtype) !== spec.dtype) {
      problems.push(`"${name}" has dtype ${jaxDType(t.dtype) ?? t.dtype} but the model expects ${spec.dtype}`);
    }
  }
  const unexpected = Object.keys(tensors).filter((n) => n.startsWith(`${prefix}.`) && !expected.has(n)).sort(compareNames);
  for (const name of unexpected) problems.push(`unexpected key "${name}"`);
  return problems;
}

/** Names (with specs where the template has them; a skeleton leaf has none) in tree order. */
function namedSpecsOrSkeleton(t: TreeTemplate | Skeleton, prefix: string): [string, { shape: number[]; dtype: string } | null][] {
  const out: [string, { shape: number[]; dtype: string } | null][] = [];
  const walk = (node: unknown, path: string): void => {
    if (node === null) out.push([path, null]);
    else if (Array.isArray(node)) node.forEach((c, i) => walk(c, `${path}.${i}`));
    else if (typeof node === "object" && (node as object).constructor === Object && !isTensorSpec(node)) {
      for (const [k, c] of Object.entries(node)) walk(c, `${path}.${k}`);
    } else out.push(...namedSpecs(node as TreeTemplate, path));
  };
  walk(t, prefix);
  return out;
}

export interface CheckpointEntry {
  path: string;
  step: number;
}

/** Checkpoints (`ckpt-<step>.safetensors`) in `dir`, oldest first; temp files are not listed. */
export async function listCheckpoints(dir: string): Promise<CheckpointEntry[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return names
    .map((name) => ({ name, m: CKPT_NAME.exec(name) }))
    .filter((x): x is { name: string; m: RegExpExecArray } => x.m !== null)
    .map(({ name, m }) => ({ path: join(dir, name), step: Number(m[1]) }))
    .sort((a, b) => a.step - b.step);
}

/** The checkpoint with the highest step in `dir`, or null when there is none. */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  const all = await listCheckpoints(dir);
  return all.length ? all[all.length - 1].path : null;
}

/**
 * Delete all but the newest `keep` checkpoints in `dir`, and temp files left by writers that no
 * longer run (a live process's temp file may be a write in progress). Returns the deleted paths.
 */
export async function pruneCheckpoints(dir: string, keep: number): Promise<string[]> {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`pruneCheckpoints ${dir}: keep must be an integer >= 1, got ${keep}`);
  const all = await listCheckpoints(dir);
  const doomed = all.slice(0, Math.max(0, all.length - keep)).map((c) => c.path);
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = TEMP_NAME.exec(name);
    if (m && CKPT_NAME.test(name.slice(0, m.index)) && !processAlive(Number(m[1]))) doomed.push(join(dir, name));
  }
  for (const p of doomed) await rm(p, { force: true });
  return doomed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Where to load a model part from: a world folder (its `worldFile`), a run folder (its latest
 * checkpoint) or a file given directly. `what` names the part in errors ("tokenizer", "lam").
 */
export async function resolvePartFile(path: string, worldFile: string, what: string): Promise<{ file: string; kind: "world" | "run" }> {
  if (!existsSync(path)) throw new Error(`${what}: ${path} does not exist`);
  if (statSync(path).isDirectory()) {
    const inWorld = join(path, worldFile);
    if (existsSync(inWorld)) return { file: inWorld, kind: "world" };
    const ckpt = await latestCheckpoint(path);
    if (!ckpt) throw new Error(`${what}: ${path} has neither ${worldFile} (world folder) nor ckpt-*.safetensors (run folder)`);
    return { file: ckpt, kind: "run" };
  }
  return { file: path, kind: path.endsWith(worldFile) ? "world" : "run" };
}
