/**
 * What the LAM's code must explain besides x_t+1: the auxiliary loss terms of `lamLoss`, each off
 * at weight 0 (LamConfig). The reconstruction and the commitment stay in lam.ts; these only read
 * the code (z or zq) and targets computed from the frames:
 *
 * - flowWeight: the code predicts each token's offset distribution (the cost volume; with fineFlow
 *   also the full-size one), so a code has to name where things moved;
 * - signWeight: the code predicts each token's per-channel change sign (darker / same / brighter);
 * - assignWeight: the encoder's soft choice of code, softmax(−assignSharpness·‖z − e_k‖²), is
 *   taught the code under which the decoder rebuilds x_t+1 best (`decoderBestCode`, lam.ts).
 *
 * Dimension keys: B batch · T frames · U = T − 1 transitions · H,W pixels · C channels ·
 * N tokens per frame · J offsets per token · K = A action codes · d code width.
 */
import { jnn, lax, np, tree } from "../core/jax.js";
import { linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { changeSigns } from "./motion.js";
import type { LamConfig } from "./lam.js";

/** The heads that exist only for these terms. */
export interface ExplainHeads {
  /** Quantized action → logits of every token's offset distribution (N·J). */
  flowOut?: LinearParams;
  /** The same for the full-size cost volume (fineFlow). */
  fineFlowOut?: LinearParams;
  /** Quantized action → logits of every token's per-channel change sign (N·C·3). */
  signOut?: LinearParams;
}

export interface ExplainInputs {
  heads: ExplainHeads;
  /** The encoder's code before quantization (assignWeight) and after (flow, sign). */
  z_BUd: np.Array;
  zq_BUd: np.Array;
  codebook_KD: np.Array;
  /** The pooled clip (the sign term's target). */
  pooled_BTHWC: np.Array;
  /** The cost volume's offset distributions (flow term's targets); null without them. */
  flow_BUNJ: np.Array | null;
  fine_BUNJ: np.Array | null;
  /** The decoder's best code per transition (assignWeight only; else null). */
  best_BU: np.Array | null;
}

type ExplainConfig = Pick<LamConfig, "codes" | "patch" | "flowWeight" | "signWeight" | "signThreshold" | "assignWeight" | "assignSharpness">;

/** The weighted sum of the terms that are on, or null when none is. Consumes every input. */
export function explainLoss(x: ExplainInputs, cfg: ExplainConfig): np.Array | null {
  const { heads, z_BUd, zq_BUd, codebook_KD, pooled_BTHWC, flow_BUNJ, fine_BUNJ, best_BU } = x;
  const terms: np.Array[] = [];
  // Cross-entropy of each token's offset distribution predicted from the code alone. Consumes head and target.
  const flowTerm = (head: LinearParams, target_BUNJ: np.Array) => {
    const [B, U, N, J] = target_BUNJ.shape;
    const logp = jnn.logSoftmax(linear(head, zq_BUd.ref).reshape([B, U, N, J]), -1); // (B,U,N·J) -> (B,U,N,J)
    return target_BUNJ.mul(logp).sum(-1).mean().mul(-cfg.flowWeight);
  };
  if ((cfg.flowWeight ?? 0) > 0) {
    if (!heads.flowOut || !flow_BUNJ) throw new Error("lam-explain.ts: config flowWeight is set but params have no flowOut (or costVolume is 0)");
    terms.push(flowTerm(heads.flowOut, flow_BUNJ));
    if (fine_BUNJ) {
      if (!heads.fineFlowOut) throw new Error("lam-explain.ts: config fineFlow and flowWeight are set but params have no fineFlowOut");
      terms.push(flowTerm(heads.fineFlowOut, fine_BUNJ));
    }
  } else {
    flow_BUNJ?.dispose();
    fine_BUNJ?.dispose();
    tree.dispose([heads.flowOut ?? [], heads.fineFlowOut ?? []]);
  }
  if ((cfg.signWeight ?? 0) > 0) {
    if (!heads.signOut) throw new Error("lam-explain.ts: config signWeight is set but params have no signOut");
    const target_BUNC3 = changeSigns(pooled_BTHWC, cfg.patch, cfg.signThreshold ?? 0.002);
    const [B, U, N, C] = target_BUNC3.shape;
    const logp = jnn.logSoftmax(linear(heads.signOut, zq_BUd.ref).reshape([B, U, N, C, 3]), -1); // (B,U,N·C·3) -> (B,U,N,C,3)
    terms.push(target_BUNC3.mul(logp).sum(-1).mean().mul(-cfg.signWeight));
  } else {
    pooled_BTHWC.dispose();
    if (heads.signOut) tree.dispose(heads.signOut);
  }
  if (best_BU) {
    const e_KD = lax.stopGradient(codebook_KD);
    const dist_BUK = np.square(e_KD.ref).sum(-1).sub(np.matmul(z_BUd, e_KD.transpose()).mul(2)); // ‖z‖² left out: the same for every k
    const logp_BUK = jnn.logSoftmax(dist_BUK.mul(-(cfg.assignSharpness ?? 10)), -1);
    terms.push(jnn.oneHot(best_BU, cfg.codes).mul(logp_BUK).sum(-1).mean().mul(-cfg.assignWeight));
  } else {
    codebook_KD.dispose();
    z_BUd.dispose();
  }
  zq_BUd.dispose();
  return terms.length ? terms.reduce((a, b) => a.add(b)) : null;
}
