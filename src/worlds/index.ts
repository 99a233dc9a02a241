/**
 * The registry of procedural worlds, by name. The dataset CLI and the evaluation look worlds up
 * here, so a new world becomes available everywhere by adding one line.
 */
import { BOUNCE } from "./bounce.js";
import { MAZE3D } from "./maze3d.js";
import { PLATFORMER } from "./platformer.js";
import type { WorldFactory } from "./types.js";

export type { Frame, Policy, World, WorldFactory, WorldInfo, WorldState } from "./types.js";

export const WORLDS: Readonly<Record<string, WorldFactory>> = Object.freeze({
  platformer: PLATFORMER,
  maze3d: MAZE3D,
  bounce: BOUNCE,
});

/** The factory for `name`; throws listing the known names if there is none. */
export function getWorld(name: string): WorldFactory {
  const factory = Object.prototype.hasOwnProperty.call(WORLDS, name) ? WORLDS[name] : undefined;
  if (!factory) throw new Error(`unknown world "${name}"; known worlds: ${Object.keys(WORLDS).join(", ")}`);
  return factory;
}
