import type { Command } from "./command.js";
export const demo: Command = {
  name: "demo",
  summary: "train a tiny model for a few steps and print its loss",
  usage: "worldkit demo [--steps N] [--json]",
  async run() {
    throw new Error("demo: not yet wired");
  },
};
