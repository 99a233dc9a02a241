/** Capture console.log while running `fn` (for CLI tests). */
export async function captureLog(fn: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await fn();
  } finally {
    console.log = orig;
  }
  return lines.join("\n");
}
