import { describe, expect, it } from "vitest";
import { mergeResults, renderBlock } from "../bench/report.js";

describe("bench/RESULTS.md merge", () => {
  const file = [
    "# worldkit benchmarks",
    "",
    "intro",
    "",
    renderBlock({ name: "matmul", md: "### matmul\n\n| a |\n| --- |\n| 1 |" }, "Measured day 1."),
    "",
    "A hand-written note about matmul.",
    "",
    renderBlock({ name: "session", md: "### session\n\n| ms |\n| --- |\n| 30 |" }, "Measured day 1."),
    "",
    "### Browser player (by hand)",
    "",
    "| fps |",
    "",
  ].join("\n");

  it("replaces only the blocks of the benches that ran; every other line stays", () => {
    const out = mergeResults(file, "# header", [{ name: "session", md: "### session\n\n| ms |\n| --- |\n| 15 |" }], "Measured day 2.");
    expect(out).toContain("| 15 |");
    expect(out).not.toContain("| 30 |");
    expect(out).toContain("_Measured day 2._\n<!-- /bench:session -->");
    // The matmul block, its day and the hand-written text around the blocks are untouched.
    expect(out).toContain("| 1 |\n\n_Measured day 1._\n<!-- /bench:matmul -->");
    expect(out).toContain("A hand-written note about matmul.");
    expect(out).toContain("### Browser player (by hand)\n\n| fps |");
    expect(out.split("\n").length).toBe(file.split("\n").length);
    // Running the same bench again gives the same file.
    expect(mergeResults(out, "# header", [{ name: "session", md: "### session\n\n| ms |\n| --- |\n| 15 |" }], "Measured day 2.")).toBe(out);
  });

  it("adds a bench whose block is not in the file at the end, and starts a missing file from the header", () => {
    const out = mergeResults(file, "# header", [{ name: "datagen", md: "### datagen" }], "Measured day 3.");
    expect(out.startsWith(file.replace(/\n*$/, ""))).toBe(true);
    expect(out.endsWith("<!-- bench:datagen -->\n### datagen\n\n_Measured day 3._\n<!-- /bench:datagen -->\n")).toBe(true);
    expect(mergeResults(null, "# header", [{ name: "adamw", md: "### adamw" }], "M.")).toBe("# header\n\n<!-- bench:adamw -->\n### adamw\n\n_M._\n<!-- /bench:adamw -->\n");
  });

  it("refuses a block that is opened and never closed, naming it", () => {
    const broken = file.replace("<!-- /bench:session -->", "");
    expect(() => mergeResults(broken, "# h", [{ name: "session", md: "x" }], "M.")).toThrow(/"<!-- bench:session -->" has no "<!-- \/bench:session -->"/);
  });
});
