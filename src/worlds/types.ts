/**
 * The contract every procedural world implements. Worlds are deterministic from a seed, render
 * RGB + depth at any size, and report the true action and a state record per frame, which the
 * dataset stores and the evaluation uses as ground truth.
 *
 * Dimension keys: H,W pixels · C channels.
 */

/** One rendered frame. */
export interface Frame {
  /** RGB, row-major, H*W*3 bytes. */
  rgb: Uint8Array;
  /**
   * Depth, row-major, H*W values in [0, 1]: normalised distance from the camera
   * (0 = at the camera, 1 = the far plane or beyond). Each world documents its far plane.
   */
  depth: Float32Array;
}

/** A world's ground-truth state record for one frame; JSON-serialisable. */
export type WorldState = Record<string, unknown>;

export interface WorldInfo {
  /** "platformer" | "maze3d" | "bounce" */
  name: string;
  /** Human names of the true actions, indexed by action id. */
  actions: readonly string[];
  /** What depth 1.0 means, in the world's own units, for the docs and eval. */
  depthFar: string;
}

/** A running instance of a world. */
export interface World {
  readonly info: WorldInfo;
  /** Advance one step with a true action id (0 = noop in every world). */
  step(action: number): void;
  /** Render the current state at size H×W. */
  render(height: number, width: number): Frame;
  /** The current ground-truth state. */
  state(): WorldState;
}

/** A behaviour policy that picks the next true action (random with persistence, biased to progress). */
export interface Policy {
  next(world: World): number;
}

/** Everything needed to create a world and its policy from a seed. */
export interface WorldFactory {
  readonly info: WorldInfo;
  create(seed: number): World;
  /** The default behaviour policy (what `data generate` runs). */
  policy(seed: number): Policy;
  /** Named alternatives to `policy` (`data generate --policy NAME`), e.g. one an older dataset was made with. */
  policies?: Readonly<Record<string, (seed: number) => Policy>>;
}
