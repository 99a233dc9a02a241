/**
 * Prints one plain closing line, "N passed, N failed" (", N skipped" when any), after the
 * default reporter, so any CI log reader can count the tests without parsing colours.
 */
import type { Reporter } from "vitest/reporters";
import type { RunnerTestFile, RunnerTask } from "vitest";

function count(tasks: RunnerTask[], tally: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.type === "test") {
      const state = t.result?.state;
      if (state === "pass") tally.passed++;
      else if (state === "fail") tally.failed++;
      else tally.skipped++;
    } else if ("tasks" in t) count(t.tasks, tally);
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    const tally = { passed: 0, failed: 0, skipped: 0 };
    count(files, tally);
    // A file that failed outside its tests (load error, a failing beforeAll) is a failure even
    // when none of its tests ran.
    for (const f of files) {
      const perFile = { passed: 0, failed: 0, skipped: 0 };
      count(f.tasks, perFile);
      if (f.result?.state === "fail" && perFile.failed === 0) tally.failed++;
    }
    console.log(`\n${tally.passed} passed, ${tally.failed} failed${tally.skipped ? `, ${tally.skipped} skipped` : ""}`);
  }
}
