/**
 * Frame-level motion operations the latent action model is built from, on plain frame arrays
 * and independent of its parameters: pooling frames to a coarser grid and back, shifted copies
 * of a frame, the cost volume's per-token offset distribution and the per-token change signs
 * (targets and inputs computed from the data, no gradient), and the warp that moves a frame by
 * a softmax kernel over offsets (per frame, or per region of a g×g grid).
 *
 * Dimension keys: B batch · T frames · U = T − 1 transitions · F frames (flattened) · H,W pixels ·
 * C channels · N tokens per frame · P token side in pixels · J offsets or kernel logits.
 */
import { jnn, lax, np } from "../core/jax.js";

/** Frames x_B…HWC (any leading axes) averaged over pool×pool pixel blocks; unchanged for pool 1. Consumes x. */
export function poolFrames(x: np.Array, pool: number): np.Array {
  if (pool === 1) return x;
  const lead = x.shape.slice(0, -3);
  const [H, W, C] = x.shape.slice(-3);
  return x
    .reshape([...lead, H / pool, pool, W / pool, pool, C]) // (…,H,W,C) -> (…,H/s,s,W/s,s,C)
    .mean([lead.length + 1, lead.length + 3]); // -> (…,H/s,W/s,C)
}

/** x_B…hwC at pooled size back to full size, each value repeated over its pool×pool block. Consumes x. */
export function unpoolFrames(x: np.Array, pool: number): np.Array {
  if (pool === 1) return x;
  const lead = x.shape.slice(0, -3);
  const [h, w, C] = x.shape.slice(-3);
  return np
    .broadcastTo(x.reshape([...lead, h, 1, w, 1, C]), [...lead, h, pool, w, pool, C]) // (…,h,w,C) -> (…,h,s,w,s,C)
    .reshape([...lead, h * pool, w * pool, C]);
}

/**
 * x_FHWC shifted by every offset (dy, dx) ∈ [−r, r]², row-major (index (dy + r)·(2r+1) + dx + r),
 * zeros shifted in at the borders: out_j[y, x] = x[y − dy, x − dx]. Consumes x.
 */
function shiftedCopies(x_FHWC: np.Array, r: number): np.Array[] {
  const [, H, W] = x_FHWC.shape;
  const padded = np.pad(x_FHWC, [[0, 0], [r, r], [r, r], [0, 0]]);
  const out: np.Array[] = [];
  for (let j = 0; j < (2 * r + 1) ** 2; j++) {
    const dy = Math.floor(j / (2 * r + 1)) - r;
    const dx = (j % (2 * r + 1)) - r;
    out.push(padded.ref.slice([], [r - dy, r - dy + H], [r - dx, r - dx + W]));
  }
  padded.dispose();
  return out;
}

/**
 * The cost volume's per-token offset distribution for each transition of x_BTHWC (pooled
 * frames): softmin over offsets (dy, dx) ∈ [−r, r]² (row-major, as globalWarp) of the mean
 * squared error between x_t+1 and x_t shifted by the offset, over each P×P token, each token's
 * errors divided by their mean (so it does not depend on the content's contrast). A constant of
 * the data (no gradient). Returns (B, T − 1, N, (2r+1)²); consumes x.
 */
export function offsetDistribution(x_BTHWC: np.Array, r: number, P: number): np.Array {
  const [B, T, H, W, C] = x_BTHWC.shape;
  const U = T - 1;
  const x = lax.stopGradient(x_BTHWC);
  const prev = x.ref.slice([], [0, U]).reshape([B * U, H, W, C]);
  const next = x.slice([], [1, T]).reshape([B * U, H, W, C]);
  const costs = shiftedCopies(prev, r).map((sh) => np.square(next.ref.sub(sh)).mean(-1).reshape([B * U, H / P, P, W / P, P]).mean([2, 4])); // (F,H,W) -> (F,rows,cols)
  next.dispose();
  const J = costs.length;
  const cost_FNJ = np.stack(costs, -1).reshape([B * U, (H / P) * (W / P), J]);
  const rel = cost_FNJ.ref.div(cost_FNJ.mean(-1, { keepdims: true }).add(1e-4));
  return jnn.softmax(rel.mul(-4), -1).reshape([B, U, (H / P) * (W / P), J]);
}

/**
 * Per token and channel of x_BTHWC (pooled frames), the sign of the mean change from each frame
 * to the next as a one-hot over (down, same, up), "same" within ±threshold. A constant of the
 * data (no gradient). Returns (B, T − 1, N, C, 3); consumes x.
 */
export function changeSigns(x_BTHWC: np.Array, P: number, threshold: number): np.Array {
  const [B, T, H, W, C] = x_BTHWC.shape;
  const U = T - 1;
  const x = lax.stopGradient(x_BTHWC);
  const d = x.ref.slice([], [1, T]).sub(x.slice([], [0, U])); // (B,U,H,W,C)
  const mean_BUNC = d.reshape([B, U, H / P, P, W / P, P, C]).mean([3, 5]).reshape([B, U, (H / P) * (W / P), C]); // (B,U,rows,P,cols,P,C) -> (B,U,N,C)
  const down = mean_BUNC.ref.less(-threshold);
  const up = mean_BUNC.greater(threshold);
  const same = np.logicalNot(np.logicalOr(down.ref, up.ref));
  return np.stack([down, same, up].map((b) => b.astype(np.float32)), -1);
}

/** Centre logit bonus of the warp kernel: the untrained warp is ≈ the identity (weight 0.97 at r = 4). */
const WARP_CENTRE = 8;

/**
 * Σ_j softmax(logits)_j · x shifted by offset j, over the (2r+1)² offsets (dy, dx) ∈ [−r, r]²
 * (row-major), zeros shifted in at the borders: one kernel per frame and region, on a g×g grid
 * of equal regions (g = 1: one kernel for the whole frame, a global motion). logits_FJ holds
 * the regions' kernels row-major by region, then offset (J = g²·(2r+1)²); x_FHWC with H and W
 * divisible by g. Consumes both.
 */
export function globalWarp(x_FHWC: np.Array, logits_FJ: np.Array, r: number, g = 1): np.Array {
  const [F, H, W, C] = x_FHWC.shape;
  const K = (2 * r + 1) ** 2;
  if (logits_FJ.shape[0] !== F || logits_FJ.shape[1] !== g * g * K) throw new Error(`globalWarp: logits [${logits_FJ.shape}] must be (${F}, ${g * g * K}) for ${g}×${g} regions of radius ${r}`);
  if (H % g !== 0 || W % g !== 0) throw new Error(`globalWarp: a ${H}×${W} frame does not split into ${g}×${g} regions`);
  const centre = new Float32Array(K);
  centre[(K - 1) / 2] = WARP_CENTRE;
  const k_FgK = jnn.softmax(logits_FJ.reshape([F, g * g, K]).add(np.array(centre, { shape: [1, 1, K] })), -1);
  let out: np.Array | null = null;
  shiftedCopies(x_FHWC, r).forEach((sh, j) => {
    const w = k_FgK.ref.slice([], [], [j, j + 1]).reshape([F, g, 1, g, 1, 1]); // (F,g·g,1) -> (F,gy,1,gx,1,1)
    const term = sh.reshape([F, g, H / g, g, W / g, C]).mul(w).reshape([F, H, W, C]);
    out = out ? out.add(term) : term;
  });
  k_FgK.dispose();
  return out!;
}
