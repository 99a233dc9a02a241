/** numpy-style allclose with a report of the worst element: |a - e| <= atol + rtol * |e|. */
export function allcloseReport(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6 }: { rtol?: number; atol?: number } = {},
): { ok: boolean; message: string } {
  if (actual.length !== expected.length) {
    return { ok: false, message: `length ${actual.length} != expected length ${expected.length}` };
  }
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(a) || Number.isNaN(e)) {
      if (Number.isNaN(a) && Number.isNaN(e)) continue;
      return { ok: false, message: `NaN mismatch at ${i}: got ${a}, expected ${e}` };
    }
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst < 0) return { ok: true, message: "arrays are close" };
  return {
    ok: false,
    message: `not close at index ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol=${rtol}, atol=${atol})`,
  };
}

/** Largest absolute difference between two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
