/**
 * Frames ⇄ patches, the ViT-style stand-in for convolutions (jax-js's conv is slow on wasm).
 * A frame of H×W pixels with C channels becomes N = (H/P)·(W/P) patches of P·P·C values,
 * row-major over the patch grid.
 *
 * Dimension keys: B batch · T frames · H,W pixels · C channels · P patch side · N patches per
 * frame · Q = P·P·C values per patch.
 */
import { np } from "../core/jax.js";

export interface PatchGrid {
  height: number;
  width: number;
  channels: number;
  patch: number;
}

/** Patches per frame and values per patch, checking that the patch divides the frame. */
export function gridOf(g: PatchGrid): { rows: number; cols: number; N: number; Q: number } {
  if (g.height % g.patch !== 0 || g.width % g.patch !== 0) {
    throw new Error(`patch ${g.patch} must divide the frame size ${g.height}×${g.width}`);
  }
  const rows = g.height / g.patch;
  const cols = g.width / g.patch;
  return { rows, cols, N: rows * cols, Q: g.patch * g.patch * g.channels };
}

/** x_BTHWC → patches_BTNQ (consumes x). */
export function patchify(x_BTHWC: np.Array, g: PatchGrid): np.Array {
  const [B, T, H, W, C] = x_BTHWC.shape;
  if (H !== g.height || W !== g.width || C !== g.channels) {
    throw new Error(`patchify: input [${x_BTHWC.shape}] does not match frames ${g.height}×${g.width}×${g.channels}`);
  }
  const { rows, cols, N, Q } = gridOf(g);
  const P = g.patch;
  return x_BTHWC
    .reshape([B, T, rows, P, cols, P, C]) // (B,T,H,W,C) -> (B,T,rows,P,cols,P,C)
    .transpose([0, 1, 2, 4, 3, 5, 6]) // -> (B,T,rows,cols,P,P,C)
    .reshape([B, T, N, Q]); // -> (B,T,N,Q)
}

/** patches_BTNQ → x_BTHWC (consumes patches). */
export function unpatchify(p_BTNQ: np.Array, g: PatchGrid): np.Array {
  const [B, T] = p_BTNQ.shape;
  const { rows, cols } = gridOf(g);
  const P = g.patch;
  const C = g.channels;
  return p_BTNQ
    .reshape([B, T, rows, cols, P, P, C]) // (B,T,N,Q) -> (B,T,rows,cols,P,P,C)
    .transpose([0, 1, 2, 4, 3, 5, 6]) // -> (B,T,rows,P,cols,P,C)
    .reshape([B, T, g.height, g.width, C]); // -> (B,T,H,W,C)
}
