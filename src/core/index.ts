export * from "./jax.js";
export * from "./device.js";
export * from "./keys.js";
export * from "./refs.js";
