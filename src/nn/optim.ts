/**
 * AdamW (Adam with decoupled weight decay, Loshchilov & Hutter 2019) and global-norm gradient
 * clipping, as pure functions of trees of arrays, so a whole training step can be jit-compiled
 * and traced with `makeJaxpr`.
 *
 * Ownership: every function here consumes the arrays it is given (grads, state, params, an array
 * `lr`), like jax-js itself. Pass `tree.ref(x)` to keep using `x` afterwards.
 *
 * The update for a parameter p with gradient g at step t = count + 1:
 *   m ← b1·m + (1 − b1)·g          v ← b2·v + (1 − b2)·g²
 *   m̂ = m / (1 − b1^t)             v̂ = v / (1 − b2^t)
 *   p ← p − lr·(m̂ / (√v̂ + eps) + wd·p)     (wd only where the decay mask is true)
 */
import { np, tree } from "../core/jax.js";
import type { JsTree } from "../core/jax.js";

/**
 * A tree of arrays (parameters, gradients, moments). The functions here are generic in the
 * tree's type `P` without constraining it, so typed param interfaces (`LinearParams`, ...) work;
 * P must still be plain objects/arrays with array leaves (no `undefined` fields).
 */
export type ArrayTree = JsTree<np.Array>;

export type AdamWState<P = ArrayTree> = {
  /** First moment (EMA of gradients), same tree as the params. */
  m: P;
  /** Second moment (EMA of squared gradients), same tree as the params. */
  v: P;
  /** Number of updates applied so far, int32 scalar (drives the bias correction). */
  count: np.Array;
};

/**
 * Which leaves get weight decay: a tree of booleans shaped like the params, or a predicate on
 * the leaf's dotted path (e.g. "blocks.0.attn.w") and the leaf itself.
 */
export type DecayMask = JsTree<boolean> | ((path: string, leaf: np.Array) => boolean);

export interface AdamWHyper {
  /** Learning rate: a number, or a scalar array (so a schedule does not retrace a jit step). */
  lr: np.Array | number;
  /** Decay of the first-moment EMA; 0.9 is the usual choice. */
  b1: number;
  /** Decay of the second-moment EMA; 0.95 is common for transformers, 0.999 for small models. */
  b2: number;
  /** Added to √v̂ so steps stay bounded where gradients are ~0; 1e-8 as in the Adam paper. */
  eps: number;
  /** Decoupled weight decay coefficient (multiplied by lr); 0 disables it. */
  weightDecay: number;
  /**
   * Leaves that get weight decay. Default: leaves with ndim ≥ 2 (matrices, embeddings), not
   * 1-D ones (norm scales, biases), whose decay only hurts.
   */
  decayMask?: DecayMask;
}

/** AdamW settings other than the rate, as nanoGPT trains transformers (b2 0.95, wd 0.1). */
export const ADAMW_DEFAULTS: Readonly<Omit<AdamWHyper, "lr" | "decayMask">> = Object.freeze({
  b1: 0.9,
  b2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
});

/** Optimizer state for `params` (consumed: only its shapes are used): zero moments, count 0. */
export function adamwInit<P>(params: P): AdamWState<P> {
  const m = tree.map((p: np.Array) => np.zerosLike(p.ref), params as ArrayTree) as P;
  const v = tree.map((p: np.Array) => np.zerosLike(p), params as ArrayTree) as P;
  return { m, v, count: np.array(0, { dtype: np.int32 }) };
}

/** Dotted paths of a tree's leaves, in the order jax-js flattens them (key order, then index). */
function leafPaths(t: unknown, prefix = ""): string[] {
  if (Array.isArray(t)) return t.flatMap((c, i) => leafPaths(c, prefix ? `${prefix}.${i}` : String(i)));
  if (typeof t === "object" && t !== null && (t as object).constructor === Object) {
    return Object.entries(t as Record<string, unknown>).flatMap(([k, c]) => leafPaths(c, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix || "(root)"];
}

/** One boolean per param leaf (flatten order): does it get weight decay? */
function resolveDecayMask(params: ArrayTree, leaves: np.Array[], mask: DecayMask | undefined): boolean[] {
  if (mask === undefined) return leaves.map((p) => p.ndim >= 2);
  const paths = leafPaths(params);
  if (typeof mask === "function") return leaves.map((p, i) => mask(paths[i], p));
  const flags = tree.leaves(mask) as unknown[];
  if (flags.length !== leaves.length || flags.some((f) => typeof f !== "boolean")) {
    throw new Error(
      `optim.ts adamwUpdate: decayMask must be a tree of booleans shaped like the params ` +
        `(${leaves.length} leaves: ${paths.slice(0, 6).join(", ")}${paths.length > 6 ? ", ..." : ""}), got ${flags.length} leaves`,
    );
  }
  return flags as boolean[];
}

/**
 * One AdamW step. Consumes `grads`, `state`, `params` (and `hp.lr` when it is an array);
 * returns the new params and state.
 */
export function adamwUpdate<P>(
  grads: P,
  state: AdamWState<P>,
  params: P,
  hp: AdamWHyper,
): { params: P; state: AdamWState<P> } {
  const [pLeaves, treedef] = tree.flatten(params) as [np.Array[], ReturnType<typeof tree.structure>];
  const [gLeaves, gDef] = tree.flatten(grads) as [np.Array[], ReturnType<typeof tree.structure>];
  const mLeaves = tree.leaves(state.m) as np.Array[];
  const vLeaves = tree.leaves(state.v) as np.Array[];
  if (!gDef.equals(treedef) || mLeaves.length !== pLeaves.length || vLeaves.length !== pLeaves.length) {
    throw new Error(`optim.ts adamwUpdate: grads/state trees do not match the params tree (params ${treedef.toString()}, grads ${gDef.toString()})`);
  }
  const decay = resolveDecayMask(params as ArrayTree, pLeaves, hp.decayMask);

  const count = state.count.add(1);
  // b^t as exp(t·ln b): t is a traced array, so this stays one graph for every step.
  const t = count.ref.astype(np.float32);
  const bc1 = np.exp(t.ref.mul(Math.log(hp.b1))).neg().add(1); // 1 − b1^t
  const bc2 = np.exp(t.mul(Math.log(hp.b2))).neg().add(1); // 1 − b2^t
  const lr = typeof hp.lr === "number" ? np.array(hp.lr) : hp.lr;

  const newP: np.Array[] = [];
  const newM: np.Array[] = [];
  const newV: np.Array[] = [];
  for (let i = 0; i < pLeaves.length; i++) {
    const g = gLeaves[i];
    const m = mLeaves[i].mul(hp.b1).add(g.ref.mul(1 - hp.b1));
    const v = vLeaves[i].mul(hp.b2).add(np.square(g).mul(1 - hp.b2));
    const mHat = m.ref.div(bc1.ref);
    const vHat = v.ref.div(bc2.ref);
    let update = mHat.div(np.sqrt(vHat).add(hp.eps));
    const p = pLeaves[i];
    if (decay[i] && hp.weightDecay !== 0) update = update.add(p.ref.mul(hp.weightDecay));
    newP.push(p.sub(update.mul(lr.ref)));
    newM.push(m);
    newV.push(v);
  }
  bc1.dispose();
  bc2.dispose();
  lr.dispose();
  return {
    params: tree.unflatten(treedef, newP) as P,
    state: { m: tree.unflatten(treedef, newM) as P, v: tree.unflatten(treedef, newV) as P, count },
  };
}

/**
 * Scale `grads` (consumed) so their global L2 norm is at most `maxNorm`; returns the scaled
 * grads and the norm before scaling (float32 scalar). Below the limit the scale is exactly 1,
 * so gradients pass through unchanged.
 */
export function clipByGlobalNorm<P>(grads: P, maxNorm: number): { grads: P; norm: np.Array } {
  if (!(maxNorm > 0)) throw new Error(`optim.ts clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = globalNorm(tree.ref(grads as ArrayTree));
  // jax-js divides as x·(1/y), so maxNorm/max(norm, maxNorm) need not be exactly 1 below the
  // limit; select a literal 1 there instead. max() keeps the unselected branch finite at norm 0.
  const scale = np.where(norm.ref.greater(maxNorm), np.reciprocal(np.maximum(norm.ref, maxNorm)).mul(maxNorm), 1);
  const out = tree.map((g: np.Array) => g.mul(scale.ref), grads as ArrayTree) as P;
  scale.dispose();
  return { grads: out, norm };
}

/** √(Σ over leaves of Σ g²) of a tree (consumed), as a float32 scalar. */
export function globalNorm(t: unknown): np.Array {
  const leaves = tree.leaves(t as ArrayTree) as np.Array[];
  if (leaves.length === 0) return np.zeros([]);
  let total = np.square(leaves[0].astype(np.float32)).sum();
  for (const g of leaves.slice(1)) total = total.add(np.square(g.astype(np.float32)).sum());
  return np.sqrt(total);
}
