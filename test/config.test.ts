import { describe, expect, it } from "vitest";
import { freezeDeep, parseOverrides, resolveConfig } from "../src/core/config.js";
import { parseArgs } from "../src/cli/args.js";

const DEFAULTS = freezeDeep({ model: { layers: 4, width: 128, act: "gelu", qkNorm: true }, lr: 3e-4, dims: [1, 2] });

describe("config", () => {
  it("resolves defaults < file < CLI, parsing by the default's type", () => {
    const cfg = resolveConfig(
      DEFAULTS,
      { values: { model: { layers: 6 } }, source: "cfg.json" },
      { values: parseOverrides(DEFAULTS, { "model.layers": "8", "model.qkNorm": "false", lr: "1e-3", dims: "3,4" }), source: "command line" },
    );
    expect(cfg).toEqual({ model: { layers: 8, width: 128, act: "gelu", qkNorm: false }, lr: 1e-3, dims: [3, 4] });
    expect(Object.isFrozen(cfg.model)).toBe(true);
    expect(DEFAULTS.model.layers).toBe(4);
  });

  it("rejects unknown keys, naming them", () => {
    expect(() => parseOverrides(DEFAULTS, { "model.layrs": "8" })).toThrow(/unknown option --model.layrs.*model.layers/);
    expect(() => resolveConfig(DEFAULTS, { values: { model: { depth: 2 } }, source: "x.json" })).toThrow(/x.json: unknown key "model.depth"/);
  });

  it("rejects wrong types, naming the key", () => {
    expect(() => parseOverrides(DEFAULTS, { "model.layers": "eight" })).toThrow(/--model.layers must be a number/);
    expect(() => parseOverrides(DEFAULTS, { "model.qkNorm": "yes" })).toThrow(/true or false/);
    expect(() => resolveConfig(DEFAULTS, { values: { lr: "fast" }, source: "f.json" })).toThrow(/"lr" must be number, got string/);
    expect(() => parseOverrides(DEFAULTS, { model: "1" })).toThrow(/is a group/);
  });
});

describe("argv", () => {
  it("separates positionals, flags and dotted overrides", () => {
    const a = parseArgs(["train", "--data", "d", "--json", "--model.layers=8", "--out=r", "x"], ["json"]);
    expect(a.positionals).toEqual(["train", "x"]);
    expect(a.flags).toEqual({ data: "d", json: "true", out: "r" });
    expect(a.overrides).toEqual({ "model.layers": "8" });
  });
});
