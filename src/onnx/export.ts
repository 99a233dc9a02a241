/**
 * Export a traced jax-js computation (a `ClosedJaxpr` from `makeJaxpr`) to an ONNX model.
 *
 * The design is JAX's: define and differentiate in jax-js, trace one step to a jaxpr, then hand
 * the whole static graph to a compiler (here onnxruntime) that runs it much faster than jax-js's
 * wasm kernels. Shapes are static (the jaxpr's); one export per input shape.
 *
 * - Graph inputs are the jaxpr's inputs in order (its closed-over consts become initializers;
 *   `constants` bakes chosen inputs in too, e.g. inference weights, which `quantize` makes int8).
 * - Nested `jit` equations are inlined, except named activations (gelu, tanh, silu) that map
 *   to one ONNX op (ops.ts `namedJitLowering`), and GELU's split forward/backward in a gradient,
 *   which becomes `Gelu` plus a short derivative (gelu.ts).
 * - Forward LayerNorm / RMSNorm become `LayerNormalization` / `SimplifiedLayerNormalization`
 *   (norms.ts), and an unmasked forward softmax one `Softmax` (softmax.ts); transposes are emitted in their smallest rank (graph.ts `canonicalTranspose`).
 * - A fused projection of a constant weight that is split by columns (q, k, v) becomes one
 *   MatMul per piece (projections.ts), so the fused output is not written and then copied apart.
 * - Uniform constants are folded (fold.ts): jax-js gradients carry many `x * 0` tangent terms.
 * - A `broadcast` stays un-expanded (a "deferred" broadcast) through element-wise ops,
 *   transposes, reshapes, reductions and dots, and is materialised with Expand only where a
 *   consumer needs the full array: `x + bias` does not copy `bias` to the size of `x`, and the
 *   gradient of a matmul (which jax-js writes as a broadcast cotangent) stays a MatMul.
 * - Randomness is not exported: a step that needs random numbers (dropout, MaskGIT masks) takes
 *   them as an input array drawn outside the graph; `random_bits` throws.
 * - A primitive without a lowering throws an error naming it and printing its equation.
 */
import type { ClosedJaxpr, Jaxpr } from "../core/jax.js";
import { GraphBuilder, float, type ElemType } from "./graph.js";
import { foldEquation } from "./fold.js";
import { LOWERINGS, namedJitLowering, type LowerContext } from "./ops.js";
import { broadcastShapes, sameShape } from "./shapes.js";
import { encodeModel } from "./proto.js";
import { splitConstantProjections } from "./projections.js";
import { quantizeMatMulWeights } from "./quantize.js";
import { matchNorm, useCounts } from "./norms.js";
import { emitGelu, emitGeluGrad, geluPevalForm, type GeluForm } from "./gelu.js";
import { emitSoftmax, isMaskedLogits, matchSoftmax } from "./softmax.js";

export interface ExportOptions {
  /** Names of the graph inputs, one per jaxpr input (consts excluded); default `input_<i>`. */
  inputNames?: string[];
  /** Names of the graph outputs, one per jaxpr output; default `output_<i>`. */
  outputNames?: string[];
  /**
   * ONNX opset of the default domain, 17 or later. Default 20: reduce axes are inputs (18+) and
   * jax-js's GELU becomes one `Gelu` node (20+).
   */
  opset?: number;
  /** Graph name stored in the model (default "worldkit"). */
  graphName?: string;
  /**
   * Inputs baked into the model as constants instead of graph inputs, by input name (e.g. the
   * params of an inference graph, so onnxruntime can pre-pack or quantize them).
   */
  constants?: Record<string, { data: Float32Array | Int32Array; shape: number[] }>;
  /** Smallest fused constant projection (output elements) split into one MatMul per piece (projections.ts). */
  minSplitElements?: number;
  /** "int8": MatMuls with a constant weight run as int8 (see quantize.ts). Default: fp32. */
  quantize?: "int8";
}

/** A jaxpr atom as the exporter sees it: a variable (object identity) or a literal scalar. */
type Atom = Jaxpr["outs"][number];
type Eqn = Jaxpr["eqns"][number];

interface Deferred {
  /** The un-expanded source (same rank, size-1 axes where the broadcast expands). */
  source: string;
  sourceShape: number[];
  shape: number[];
  expanded: boolean;
}

const isLiteral = (a: Atom): a is Atom & { value: number } => "value" in a;
const avalOf = (a: Atom): { shape: number[]; dtype: ElemType } => a.aval as unknown as { shape: number[]; dtype: ElemType };

class Exporter {
  readonly g = new GraphBuilder();
  readonly env = new Map<Atom, string>();
  readonly deferred = new Map<string, Deferred>();
  /** ONNX names of values known to be a uniform constant, with that constant. */
  readonly constants = new Map<string, number>();
  /** Residual outputs of a GELU forward split for a gradient, with that GELU's input (gelu.ts). */
  readonly geluInputs = new Map<Atom, { x: string; form: GeluForm }>();

  constructor(readonly opset: number) {}

  /** ONNX name of an atom, a deferred broadcast expanded; literals become scalar constants. */
  read(atom: Atom, dtype?: ElemType): string {
    if (isLiteral(atom)) return this.g.scalar(atom.value, dtype ?? avalOf(atom).dtype);
    const name = this.nameOf(atom);
    const d = this.deferred.get(name);
    if (d) this.expand(name, d);
    return name;
  }

  /** Like `read`, but a deferred broadcast comes back as its un-expanded source and shape. */
  readLazy(atom: Atom, dtype?: ElemType): { name: string; shape: number[] } {
    if (!isLiteral(atom)) {
      const d = this.deferred.get(this.nameOf(atom));
      if (d && !d.expanded) return { name: d.source, shape: d.sourceShape };
    }
    return { name: this.read(atom, dtype), shape: avalOf(atom).shape };
  }

  nameOf(atom: Atom): string {
    const name = this.env.get(atom);
    if (name === undefined) throw new Error(`src/onnx/export.ts: variable ${String(atom)} used before definition`);
    return name;
  }

  expand(name: string, d: Deferred): void {
    if (d.expanded) return;
    d.expanded = true;
    this.g.node("Expand", [d.source, this.g.ints(d.shape)], {}, { outputs: [name] });
  }

  lowerJaxpr(jaxpr: Jaxpr, inputs: string[]): string[] {
    jaxpr.inBinders.forEach((v, i) => this.env.set(v, inputs[i]));
    const uses = useCounts(jaxpr);
    for (let i = 0; i < jaxpr.eqns.length; i++) {
      const eqn = jaxpr.eqns[i];
      const norm = this.opset >= 17 ? matchNorm(jaxpr.eqns, i, uses) : undefined;
      if (norm) {
        const last = jaxpr.eqns[i + norm.length - 1];
        const inputs = [this.read(norm.x), this.read(norm.scale), ...(norm.bias ? [this.read(norm.bias)] : [])];
        const opType = norm.kind === "layer" ? "LayerNormalization" : "SimplifiedLayerNormalization";
        this.env.set(last.outBinders[0], this.g.op(opType, inputs, { axis: -1, epsilon: float(norm.eps) }));
        i += norm.length - 1;
        continue;
      }
      const softmax = matchSoftmax(jaxpr.eqns, i, uses);
      if (softmax && !isLiteral(softmax.x) && !isMaskedLogits(this.g, this.nameOf(softmax.x))) {
        const last = jaxpr.eqns[i + softmax.length - 1];
        this.env.set(last.outBinders[0], emitSoftmax(this.g, this.read(softmax.x)));
        i += softmax.length - 1;
        continue;
      }
      if (eqn.primitive === "jit") {
        const inner = eqn.params.jaxpr as Jaxpr;
        const named = namedJitLowering(eqn.params.name as string, inner, this.opset);
        if (named) {
          this.env.set(eqn.outBinders[0], named(this.context(eqn))[0]);
          continue;
        }
        if (this.lowerGeluGrad(eqn)) continue;
        // Pass names through unchanged, so deferred broadcasts stay deferred inside the jit.
        const outs = this.lowerJaxpr(inner, eqn.inputs.map((a) => (isLiteral(a) ? this.read(a) : this.nameOf(a))));
        eqn.outBinders.forEach((v, i) => this.env.set(v, outs[i]));
        this.markGeluForward(eqn);
        continue;
      }
      const outs = this.lowerEqn(eqn);
      eqn.outBinders.forEach((v, i) => this.env.set(v, outs[i]));
    }
    // Names pass through unexpanded; the graph outputs are expanded by exportJaxpr.
    return jaxpr.outs.map((a) => (isLiteral(a) ? this.read(a) : this.nameOf(a)));
  }

  /**
   * After inlining a `gelu_jvp_peval` jit: its primal output becomes one Gelu node, and its
   * residual outputs are remembered for `lowerGeluGrad`. The inlined
   * residuals that nothing reads any more are pruned at the end.
   */
  markGeluForward(eqn: Eqn): void {
    const inner = eqn.params.jaxpr as Jaxpr;
    const form = geluPevalForm(eqn.params.name as string, inner as never);
    const input = eqn.inputs[0];
    if (form === undefined || isLiteral(input) || avalOf(input).dtype !== "float32" || this.opset < 20) return;
    const x = this.read(input);
    this.env.set(eqn.outBinders[0], emitGelu(this.g, x, form));
    // Every residual output identifies this GELU (the backward takes some of them).
    eqn.outBinders.slice(1).forEach((v) => this.geluInputs.set(v, { x, form }));
  }

  /** A `gelu_jvp_resid_t` jit fed residuals of a marked GELU forward: gelu'(x) · ct. */
  lowerGeluGrad(eqn: Eqn): boolean {
    if (eqn.params.name !== "gelu_jvp_resid_t" || eqn.outBinders.length !== 1) return false;
    const residuals = eqn.inputs.slice(0, -1);
    const marked = residuals.find((a) => !isLiteral(a) && this.geluInputs.has(a));
    const ct = eqn.inputs[eqn.inputs.length - 1];
    if (!marked || !sameShape(avalOf(ct).shape, avalOf(eqn.outBinders[0]).shape)) return false;
    const { x, form } = this.geluInputs.get(marked)!;
    this.env.set(eqn.outBinders[0], emitGeluGrad(this.g, x, this.read(ct), form));
    return true;
  }

  lowerEqn(eqn: Eqn): string[] {
    if (eqn.primitive === "random_bits") {
      throw new Error(
        `src/onnx/export.ts: random_bits cannot be exported; draw random numbers outside the step and pass them ` +
          `in as an input array (dropout / MaskGIT masks). Equation: ${String(eqn)}`,
      );
    }
    const folded = eqn.outBinders.length === 1 ? this.fold(eqn) : undefined;
    if (folded !== undefined) return [folded];
    const lowering = LOWERINGS[eqn.primitive];
    if (!lowering) {
      throw new Error(`src/onnx/export.ts: no ONNX lowering for primitive "${eqn.primitive}" in equation: ${String(eqn)}`);
    }
    const outs = lowering(this.context(eqn));
    if (outs.length !== eqn.outBinders.length) {
      throw new Error(`src/onnx/export.ts: lowering of "${eqn.primitive}" gave ${outs.length} outputs for ${String(eqn)}`);
    }
    return outs;
  }

  /** Uniform constant value of an atom, if known (literals, and outputs folded to constants). */
  valueOf(atom: Atom): number | undefined {
    return isLiteral(atom) ? Number(atom.value) : this.constants.get(this.nameOf(atom));
  }

  /** The output of a foldable equation (see fold.ts), or undefined to lower it. */
  fold(eqn: Eqn): string | undefined {
    const out = avalOf(eqn.outBinders[0]);
    const result = foldEquation({
      primitive: eqn.primitive,
      params: eqn.params,
      values: eqn.inputs.map((a) => this.valueOf(a)),
      inShapes: eqn.inputs.map((a) => avalOf(a).shape),
      outShape: out.shape,
      inDtypes: eqn.inputs.map((a) => avalOf(a).dtype),
      outDtype: out.dtype,
    });
    if (result === undefined) return undefined;
    if ("input" in result) {
      const atom = eqn.inputs[result.input];
      if (isLiteral(atom) || sameShape(avalOf(atom).shape, out.shape)) return isLiteral(atom) ? this.read(atom, out.dtype) : this.nameOf(atom);
      const lazy = this.readLazy(atom);
      const rank = out.shape.length;
      const padded = [...Array(rank - lazy.shape.length).fill(1), ...lazy.shape];
      const source = this.g.reshape(lazy.name, lazy.shape, padded);
      return this.defer(source, padded, out.shape);
    }
    // A uniform constant: a tiny initializer, broadcast only if a consumer needs it expanded.
    const ones = out.shape.map(() => 1);
    const name = this.defer(this.g.constant([result.constant], out.dtype, ones), ones, out.shape);
    this.constants.set(name, result.constant);
    return name;
  }

  /** `source` (same rank as `shape`, size 1 where it broadcasts) as a deferred broadcast. */
  defer(source: string, sourceShape: number[], shape: number[]): string {
    if (sameShape(sourceShape, shape)) return source;
    const name = this.g.fresh("broadcast");
    this.deferred.set(name, { source, sourceShape, shape, expanded: false });
    return name;
  }

  context(eqn: Eqn): LowerContext {
    const self = this;
    const outAval = (i = 0) => avalOf(eqn.outBinders[i]);
    return {
      g: this.g,
      opset: this.opset,
      params: eqn.params,
      numInputs: eqn.inputs.length,
      input: (i, dtype) => self.read(eqn.inputs[i], dtype),
      inputLazy: (i, dtype) => self.readLazy(eqn.inputs[i], dtype),
      inShape: (i) => avalOf(eqn.inputs[i]).shape,
      inDtype: (i) => avalOf(eqn.inputs[i]).dtype,
      outShape: (i = 0) => outAval(i).shape,
      outDtype: (i = 0) => outAval(i).dtype,
      broadcastInputs(indices, dtype) {
        // Keep deferred broadcasts un-expanded unless together they no longer cover the output.
        const lazy = indices.map((i) => self.readLazy(eqn.inputs[i], dtype));
        const target = outAval().shape;
        const covered = () => sameShape(broadcastShapes(lazy.map((l) => l.shape)), target);
        for (let j = 0; j < indices.length && !covered(); j++) {
          const atom = eqn.inputs[indices[j]];
          lazy[j] = { name: self.read(atom, dtype), shape: avalOf(atom).shape };
        }
        return lazy.map((l) => l.name);
      },
      deferBroadcast: (source, sourceShape) => self.defer(source, sourceShape, outAval().shape),
    };
  }
}


/**
 * Export `closed` to ONNX ModelProto bytes. Consts are read with `dataSync()`, so make sure no
 * async work is pending on them (they are usually parameters or constants created at trace time).
 */
export function exportJaxpr(closed: ClosedJaxpr, opts: ExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? 20;
  if (opset < 17) throw new Error(`src/onnx/export.ts: opset ${opset} is too old; use 17 or later`);
  const jaxpr = closed.jaxpr;
  const numConsts = closed.consts.length;
  const argBinders = jaxpr.inBinders.slice(numConsts);
  const inputNames = opts.inputNames ?? argBinders.map((_, i) => `input_${i}`);
  const outputNames = opts.outputNames ?? jaxpr.outs.map((_, i) => `output_${i}`);
  if (inputNames.length !== argBinders.length) {
    throw new Error(`src/onnx/export.ts: ${inputNames.length} inputNames for a jaxpr with ${argBinders.length} inputs`);
  }
  if (outputNames.length !== jaxpr.outs.length) {
    throw new Error(`src/onnx/export.ts: ${outputNames.length} outputNames for a jaxpr with ${jaxpr.outs.length} outputs`);
  }

  const ex = new Exporter(opset);
  const g = ex.g;
  const used = new Set<Atom>([...jaxpr.outs, ...jaxpr.eqns.flatMap((e) => e.inputs)]);
  const constNames = closed.consts.map((c, i) => {
    const { shape, dtype } = avalOf(jaxpr.inBinders[i]);
    if (!used.has(jaxpr.inBinders[i])) return ""; // simplify() can leave unused consts behind
    // dataSync() consumes its array; read a new reference so the ClosedJaxpr keeps its const.
    const data = (c as unknown as { ref: { dataSync(): ArrayLike<number> } }).ref.dataSync();
    return g.constant(data, dtype, shape);
  });
  const argNames = argBinders.map((v, i) => {
    const { shape, dtype } = avalOf(v);
    const baked = opts.constants?.[inputNames[i]];
    if (!baked) {
      g.inputs.push(g.valueInfo(g.reserve(inputNames[i]), dtype, shape));
      return inputNames[i];
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (baked.data.length !== size || !sameShape(baked.shape, shape)) {
      throw new Error(`src/onnx/export.ts: constant "${inputNames[i]}" has shape [${baked.shape}], the jaxpr input is [${shape}]`);
    }
    return g.constant(baked.data, dtype, shape);
  });
  outputNames.forEach((n) => g.reserve(n));

  const outs = ex.lowerJaxpr(jaxpr, [...constNames, ...argNames]);
  outs.forEach((_, i) => {
    const { shape, dtype } = avalOf(jaxpr.outs[i]);
    const name = ex.read(jaxpr.outs[i], dtype);
    g.node("Identity", [name], {}, { outputs: [outputNames[i]] }); // outputs may alias inputs or each other
    g.outputs.push(g.valueInfo(outputNames[i], dtype, shape));
  });

  g.pruneDeadNodes(); // (a dead reader of a fused projection would keep it fused)
  splitConstantProjections(g, opts.minSplitElements);
  if (opts.quantize === "int8") quantizeMatMulWeights(g);
  g.pruneDeadNodes();
  return encodeModel({
    irVersion: 8,
    producerName: "worldkit",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: opset }, ...[...g.domains].map(([domain, version]) => ({ domain, version }))],
    graph: { name: opts.graphName ?? "worldkit", node: g.nodes, initializer: g.initializers, input: g.inputs, output: g.outputs },
  });
}
