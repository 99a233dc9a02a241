/** Free a loaded world's arrays once a WorldSession has taken its own references. */
import { tree } from "../src/core/jax.js";
import type { ParamTree } from "../src/core/tree-names.js";
import type { LoadedWorld } from "../src/world/world-types.js";

export function disposeWorldArrays(w: LoadedWorld): void {
  tree.dispose(w.tokenizer.params as unknown as ParamTree);
  w.tokenizer.codebook_KD.dispose();
  tree.dispose(w.dynamics.params as unknown as ParamTree);
  if (w.prompt) tree.dispose(w.prompt.params as unknown as ParamTree);
}
