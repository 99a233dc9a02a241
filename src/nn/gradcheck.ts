/**
 * Finite-difference gradient checks for any scalar function of a tree of arrays.
 *
 * `gradCheck(f, tree)` compares `grad(f)` with central differences of `f`, leaf by leaf:
 *
 * - **Directional check** (every float leaf): a random direction `v` (unit RMS, from `seed`,
 *   redrawn while `<grad f, v>` is atypically small); the analytic `<grad f, v>` against
 *   central differences `(f(θ + tv) − f(θ − tv)) / 2t` at `points` steps t ≤ ε, fitted by
 *   least squares with an odd polynomial in t, so the O(t²) and O(t⁴) truncation errors drop
 *   out and the steps can stay large enough, and numerous enough, that float32 rounding does
 *   not dominate. Where the fit is still noisy (f barely changes along v) the steps grow 4× and
 *   16× and the least noisy fit is kept.
 * - **Coordinate checks** (`coords` per leaf, steps up to `coordEps`): the same along single
 *   coordinates, half of them where `|grad|` is largest (most informative), half at random.
 *
 * The perturbed leaves are rounded to float32, so the step actually taken differs slightly
 * from `t·v`; each difference is corrected, to first order, by the analytic effect of that
 * rounding (computed in float64 on the host).
 *
 * Cost: (1 + coords) × 2 × points evaluations of `f` per leaf (about 100 by default), so keep
 * the shapes small; `only` restricts the leaves checked.
 *
 * Relative error is `|a − n| / max(|a|, |n|, floor)`, where the floor (`floorRel` times the
 * typical size of the quantity: `‖g‖·rms(v)` for directions, `rms(g)` for coordinates) keeps a
 * derivative that happens to be near zero from reporting pure rounding noise as a large error.
 *
 * `f` may return a scalar, or an array of any shape: then the checked scalar is
 * `sum(f(θ) · R)` for a fixed random projection R (from `seed`), and the finite differences
 * read the whole output and form that sum on the host in float64, so the only float32
 * rounding left in them is that of the outputs themselves (a float32 scalar sum would be
 * quantized to its own ulp, which dominates small differences). Prefer returning the block's
 * output over building the projection yourself.
 *
 * Integer and boolean leaves (token ids, masks) are passed through unchanged and not checked.
 * `f` must be pure and traceable (it is compiled with `jit` unless `jit: false`) and consume
 * its argument, like every apply function in worldkit. `gradCheck` consumes `tree`.
 */
import { jit, np, tree as jtree, valueAndGrad } from "../core/jax.js";
import type { JsTree } from "../core/jax.js";
import { hostRng } from "../core/keys.js";

export interface GradCheckOptions {
  /** Largest step along the unit-RMS random direction (steps eps·j/points, j = 1..points). Default 1e-2. */
  eps?: number;
  /**
   * Largest step along a single coordinate. A one-element step moves the point far less than
   * a step of the same size along a dense direction, so it can be larger, which keeps float32
   * rounding of `f` small next to the difference. Default 1e-1.
   */
  coordEps?: number;
  /** Number of step sizes per derivative (2 evaluations each), fitted together. Default 10. */
  points?: number;
  /** Seed for the random directions and coordinate picks. Default 0. */
  seed?: number;
  /** Individual coordinates checked per leaf (half largest |grad|, half random). Default 4. */
  coords?: number;
  /** Compile `f` with `jit` (much faster for the many evaluations). Default true. */
  jit?: boolean;
  /** Floor of the relative-error denominator, relative to the typical size of the derivative. Default 0.1. */
  floorRel?: number;
  /** Check only leaves whose dotted path passes this test. Default: all float leaves. */
  only?: (path: string) => boolean;
}

export interface GradCheckDetail {
  /** Dotted path of the leaf, e.g. "params.w" or "x". */
  path: string;
  /** "direction" (random direction over the whole leaf) or "coord" (one element). */
  kind: "direction" | "coord";
  /** Flat element index for "coord" checks. */
  index?: number;
  /** Derivative from `grad`. */
  analytic: number;
  /** Derivative from finite differences. */
  numeric: number;
  /** |analytic − numeric|. */
  absError: number;
  /** |analytic − numeric| / max(|analytic|, |numeric|, floor). */
  relError: number;
}

export interface GradCheckResult {
  /** Largest relative error over all checks. */
  maxRelError: number;
  /** The check with the largest relative error. */
  worst: GradCheckDetail | null;
  /** Every check, in leaf order. */
  details: GradCheckDetail[];
  /** The checked scalar at the unperturbed point (f, or sum(f · R) for a non-scalar f). */
  value: number;
}

type Leaf = np.Array;

function isFloat(x: Leaf): boolean {
  return x.dtype === np.float32 || x.dtype === np.float64 || x.dtype === np.float16;
}

/** Dotted paths of a tree's leaves, in the order jax-js flattens them (key order, then index). */
export function leafPaths(t: unknown, prefix = ""): string[] {
  if (Array.isArray(t)) return t.flatMap((c, i) => leafPaths(c, prefix ? `${prefix}.${i}` : String(i)));
  if (typeof t === "object" && t !== null && (t as object).constructor === Object) {
    return Object.entries(t as Record<string, unknown>).flatMap(([k, c]) => leafPaths(c, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix || "(root)"];
}

/** Standard normal samples from a host PRNG (Box–Muller). */
function normals(rng: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(rng(), 1e-12);
    const u2 = rng();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * Least-squares fit of d ≈ a·u + c·u³ + e·u⁵ (fewer terms when there are fewer points).
 * Returns a and its standard error from the residuals (Infinity when there are no spare
 * points). Normal equations in float64, solved by Gaussian elimination.
 */
function fitOdd(us: number[], ds: number[]): { a: number; se: number } {
  const powers = [1, 3, 5].slice(0, Math.max(1, Math.min(3, us.length - 1)));
  const n = powers.length;
  const rows = us.map((u) => powers.map((p) => Math.pow(u, p)));
  const solve = (rhs: number[]): number[] => {
    const A = Array.from({ length: n }, (_, r) => [...Array.from({ length: n }, (_, c) => rows.reduce((s, row) => s + row[r] * row[c], 0)), rhs[r]]);
    for (let c = 0; c < n; c++) {
      for (let r = c + 1; r < n; r++) {
        const f = A[r][c] / A[c][c];
        for (let cc = c; cc <= n; cc++) A[r][cc] -= f * A[c][cc];
      }
    }
    const x = new Array<number>(n).fill(0);
    for (let r = n - 1; r >= 0; r--) {
      let s = A[r][n];
      for (let c = r + 1; c < n; c++) s -= A[r][c] * x[c];
      x[r] = s / A[r][r];
    }
    return x;
  };
  const coef = solve(powers.map((_, r) => rows.reduce((s, row, j) => s + row[r] * ds[j], 0)));
  const dof = us.length - n;
  if (dof <= 0) return { a: coef[0], se: Infinity };
  const rss = rows.reduce((s, row, j) => s + (ds[j] - row.reduce((t, v, c) => t + v * coef[c], 0)) ** 2, 0);
  const inv00 = solve(powers.map((_, r) => (r === 0 ? 1 : 0)))[0];
  return { a: coef[0], se: Math.sqrt((rss / dof) * inv00) };
}

/**
 * Check `grad(f)` against central finite differences at `tree` (consumed).
 * Returns the largest relative error and every individual comparison.
 */
export async function gradCheck<T>(f: (t: T) => np.Array, tree: T, opts: GradCheckOptions = {}): Promise<GradCheckResult> {
  const eps = opts.eps ?? 1e-2;
  const coordEps = opts.coordEps ?? 1e-1;
  const points = opts.points ?? 10;
  const coords = opts.coords ?? 4;
  const floorRel = opts.floorRel ?? 0.1;
  const rng = hostRng(opts.seed ?? 0);
  const paths = leafPaths(tree);
  const [leaves, treedef] = jtree.flatten(tree as JsTree<np.Array>);
  const floatIdx = leaves.map((l, i) => (isFloat(l as Leaf) ? i : -1)).filter((i) => i >= 0);
  const otherIdx = leaves.map((l, i) => (isFloat(l as Leaf) ? -1 : i)).filter((i) => i >= 0);
  const others = otherIdx.map((i) => leaves[i] as Leaf);

  // f over (float leaves, other leaves), so that grad is taken w.r.t. float leaves only.
  const rebuild = (fl: Leaf[], ot: Leaf[]): T => {
    const all: Leaf[] = new Array(leaves.length);
    floatIdx.forEach((li, k) => (all[li] = fl[k]));
    otherIdx.forEach((li, k) => (all[li] = ot[k]));
    return jtree.unflatten(treedef, all) as T;
  };
  const g = (fl: Leaf[], ot: Leaf[]): np.Array => f(rebuild(fl, ot));
  const useJit = opts.jit ?? true;
  const gEval = useJit ? jit(g) : null;
  const floatLeaves = floatIdx.map((li) => leaves[li] as Leaf);

  // Output shape decides scalar mode or projection mode (see the file comment).
  const probe = gEval ? gEval(floatLeaves.map((a) => a.ref), others.map((o) => o.ref)) : g(floatLeaves.map((a) => a.ref), others.map((o) => o.ref));
  const outShape = probe.shape;
  const outSize = probe.size;
  probe.dispose();
  let proj: Float64Array | null = null;
  if (outSize !== 1) {
    proj = normals(rng, outSize);
  }
  const projArr = proj ? np.array(Float32Array.from(proj), { shape: outShape }) : null;
  if (proj) proj = Float64Array.from(Float32Array.from(proj)); // exactly the float32 values used by grad
  const loss = (fl: Leaf[], ot: Leaf[], r: Leaf[]): np.Array => (r.length ? g(fl, ot).mul(r[0]).sum() : g(fl, ot));
  const vg = valueAndGrad(loss);
  const evalAt = async (fl: Leaf[]): Promise<number> => {
    const out = gEval ? gEval(fl, others.map((o) => o.ref)) : g(fl, others.map((o) => o.ref));
    const data = await out.astype(np.float32).data();
    if (!proj) return Number(data[0]);
    let s = 0;
    for (let i = 0; i < proj.length; i++) s += data[i] * proj[i];
    return s;
  };

  const base: Float32Array[] = [];
  for (const li of floatIdx) base.push(Float32Array.from(await (leaves[li] as Leaf).ref.astype(np.float32).data()));
  const shapes = floatIdx.map((li) => (leaves[li] as Leaf).shape);
  const dtypes = floatIdx.map((li) => (leaves[li] as Leaf).dtype);
  const baseArrays = floatLeaves;

  const [valueArr, gradsArr] = vg(
    baseArrays.map((a) => a.ref),
    others.map((o) => o.ref),
    projArr ? [projArr.ref] : [],
  ) as unknown as [np.Array, Leaf[]];
  const value = Number((await valueArr.data())[0]);
  const grads: Float64Array[] = [];
  for (const ga of gradsArr) grads.push(Float64Array.from(await ga.astype(np.float32).data()));

  /** f with leaf k replaced by base + step·dir (rounded to float32); returns value and the realized step. */
  const shifted = async (k: number, dir: Float64Array, step: number): Promise<{ value: number; delta: Float64Array }> => {
    const b = base[k];
    const p = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) p[i] = b[i] + step * dir[i];
    const delta = new Float64Array(b.length);
    for (let i = 0; i < b.length; i++) delta[i] = p[i] - b[i];
    const fl = baseArrays.map((a, j) => (j === k ? np.array(p, { shape: shapes[k] }).astype(dtypes[k]) : a.ref));
    return { value: await evalAt(fl), delta };
  };

  /**
   * Finite-difference derivative along `dir` and the matching analytic value. Central
   * half-differences d(t) = (f(θ + t·dir) − f(θ − t·dir)) / 2 at `points` steps t_j = h·j/points
   * are fitted by least squares with a·t + c·t³ + e·t⁵: the odd Taylor terms absorb the
   * truncation error, and the fit over many steps averages the float32 rounding noise, which
   * is independent from one evaluation to the next. Each d(t_j) is first corrected, to first
   * order, for the float32 rounding of the perturbed leaf (the step taken is not exactly t·dir).
   * When the fit's standard error is large next to the derivative (a direction in which f
   * barely changes, so rounding noise dominates), the steps grow (h = eps, 4·eps, 16·eps) and
   * the estimate with the smallest standard error is kept.
   */
  const compare = async (
    k: number,
    dir: Float64Array,
    sparse: number | null,
    eps: number,
    floor: number,
  ): Promise<{ a: number; n: number }> => {
    const gk = grads[k];
    const dot = (d: Float64Array): number => {
      if (sparse !== null) return gk[sparse] * d[sparse];
      let s = 0;
      for (let i = 0; i < d.length; i++) s += gk[i] * d[i];
      return s;
    };
    const a = dot(dir);
    const fitAt = async (h: number): Promise<{ n: number; se: number }> => {
      const us: number[] = [];
      const ds: number[] = [];
      for (let j = 1; j <= points; j++) {
        const u = j / points;
        const t = h * u;
        const plus = await shifted(k, dir, t);
        const minus = await shifted(k, dir, -t);
        const stepError = (dot(plus.delta) - dot(minus.delta)) / 2 - t * a;
        us.push(u);
        ds.push((plus.value - minus.value) / 2 - stepError);
      }
      const fit = fitOdd(us, ds);
      return { n: fit.a / h, se: fit.se / h };
    };
    let best = await fitAt(eps);
    for (const grow of [4, 16]) {
      if (best.se <= 1e-4 * Math.max(Math.abs(a), Math.abs(best.n), floor)) break;
      const next = await fitAt(eps * grow);
      if (next.se < best.se) best = next;
    }
    return { a, n: best.n };
  };

  const details: GradCheckDetail[] = [];
  const record = (path: string, kind: GradCheckDetail["kind"], a: number, n: number, floor: number, index?: number) => {
    const absError = Math.abs(a - n);
    const denom = Math.max(Math.abs(a), Math.abs(n), floor, 1e-30);
    details.push({ path, kind, ...(index !== undefined ? { index } : {}), analytic: a, numeric: n, absError, relError: absError / denom });
  };

  try {
    for (let k = 0; k < floatIdx.length; k++) {
      const path = paths[floatIdx[k]];
      const size = base[k].length;
      // Always draw, so a filtered run sees the same directions as a full one.
      const gk = grads[k];
      let gg = 0;
      for (let i = 0; i < size; i++) gg += gk[i] * gk[i];
      const gNorm = Math.sqrt(gg);
      // A random unit-RMS direction, redrawn (a few times at most) while <g, v> is atypically
      // small (|<g, v>| < 0.3 ‖g‖; typical is ‖g‖), so the comparison is not of two tiny numbers.
      let v = normals(rng, size);
      for (let tries = 0; tries < 20; tries++) {
        let ss = 0;
        let gv = 0;
        for (let i = 0; i < size; i++) {
          ss += v[i] * v[i];
          gv += gk[i] * v[i];
        }
        const rmsScale = Math.sqrt(size / ss);
        for (let i = 0; i < size; i++) v[i] *= rmsScale; // unit RMS
        if (Math.abs(gv * rmsScale) >= 0.3 * gNorm || tries === 19) break;
        v = normals(rng, size);
      }
      if (opts.only && !opts.only(path)) continue;
      const d = await compare(k, v, null, eps, floorRel * gNorm);
      record(path, "direction", d.a, d.n, floorRel * gNorm);

      // Coordinates: largest |g| first, then random ones.
      const picks = new Set<number>();
      const order = Array.from(gk.keys()).sort((i, j) => Math.abs(gk[j]) - Math.abs(gk[i]));
      for (const i of order.slice(0, Math.ceil(coords / 2))) picks.add(i);
      for (let tries = 0; picks.size < Math.min(coords, size) && tries < 10 * coords; tries++) picks.add(Math.floor(rng() * size));
      const rmsG = gNorm / Math.sqrt(size);
      for (const i of picks) {
        const e = new Float64Array(size);
        e[i] = 1;
        const c = await compare(k, e, i, coordEps, floorRel * rmsG);
        record(path, "coord", c.a, c.n, floorRel * rmsG, i);
      }
    }
  } finally {
    gEval?.dispose();
    for (const a of baseArrays) a.dispose();
    for (const o of others) o.dispose();
    projArr?.dispose();
  }
  let worst: GradCheckDetail | null = null;
  for (const d of details) if (!worst || d.relError > worst.relError) worst = d;
  return { maxRelError: worst?.relError ?? 0, worst, details, value };
}

/** One line per check, worst first: for test failure messages. */
export function formatGradCheck(r: GradCheckResult, limit = 8): string {
  return [...r.details]
    .sort((a, b) => b.relError - a.relError)
    .slice(0, limit)
    .map(
      (d) =>
        `${d.path}${d.kind === "coord" ? `[${d.index}]` : " (dir)"}: analytic ${d.analytic.toExponential(4)} ` +
        `numeric ${d.numeric.toExponential(4)} rel ${d.relError.toExponential(2)}`,
    )
    .join("\n");
}
