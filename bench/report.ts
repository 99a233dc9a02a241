/**
 * bench/RESULTS.md holds both what `npm run bench` measures and what people wrote around it (runs
 * by hand, the browser, a lent GPU, why a number moved). Each generated block sits between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; a run replaces only the blocks of the benches it
 * ran, and keeps every other line of the file. A bench whose block is not in the file yet is added
 * at the end.
 */

export interface BenchSection {
  name: string;
  /** The block's markdown (its heading, tables, generated notes). */
  md: string;
}

const open = (name: string) => `<!-- bench:${name} -->`;
const close = (name: string) => `<!-- /bench:${name} -->`;

/** One generated block with its markers and the line that says when and where it was measured. */
export function renderBlock(s: BenchSection, measured: string): string {
  return [open(s.name), s.md, "", `_${measured}_`, close(s.name)].join("\n");
}

/**
 * The new RESULTS.md: `existing` (null when there is none) with each section's block replaced, or
 * `header` and the blocks when there is no file. Throws, naming the bench, on a block opened and
 * never closed (a hand edit gone wrong), rather than dropping the rest of the file.
 */
export function mergeResults(existing: string | null, header: string, sections: BenchSection[], measured: string): string {
  let text = existing ?? `${header}\n`;
  for (const s of sections) {
    const block = renderBlock(s, measured);
    const a = text.indexOf(open(s.name));
    if (a < 0) {
      text = `${text.replace(/\n*$/, "")}\n\n${block}\n`;
      continue;
    }
    const b = text.indexOf(close(s.name), a);
    if (b < 0) throw new Error(`bench/RESULTS.md: "${open(s.name)}" has no "${close(s.name)}" after it; fix the file by hand`);
    text = text.slice(0, a) + block + text.slice(b + close(s.name).length);
  }
  return text;
}
