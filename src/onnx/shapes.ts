/** Shape and permutation helpers shared by the lowerings. */

export const prod = (xs: number[]): number => xs.reduce((a, b) => a * b, 1);
export const sameShape = (a: number[], b: number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
export const invertPerm = (perm: number[]): number[] => perm.map((_, i) => perm.indexOf(i));
export const isIdentityPerm = (perm: number[]): boolean => perm.every((p, i) => p === i);

/** NumPy broadcasting of shapes (right-aligned). */
export function broadcastShapes(shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

/** Pair up runs of axes with equal products between two shapes of the same size (null if none). */
export function reshapeGroups(from: number[], to: number[]): [number[], number[]][] | null {
  const groups: [number[], number[]][] = [];
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    const a: number[] = [];
    const b: number[] = [];
    let pa = 1;
    let pb = 1;
    if (i < from.length) (a.push(i), (pa *= from[i++]));
    if (j < to.length) (b.push(j), (pb *= to[j++]));
    while (pa !== pb) {
      if (pa < pb && i < from.length) (a.push(i), (pa *= from[i++]));
      else if (pb < pa && j < to.length) (b.push(j), (pb *= to[j++]));
      else return null;
    }
    groups.push([a, b]);
  }
  return groups;
}

