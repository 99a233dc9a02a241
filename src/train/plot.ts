/**
 * Training curves as a PNG: one panel per metric, train (and validation, if logged) against
 * step, drawn into an RGB buffer with no dependencies. Good enough to see a curve's shape at a
 * glance; the numbers themselves are in metrics.jsonl.
 */
import { encodePng } from "../data/png.js";

export interface Series {
  label: string;
  points: [number, number][];
  color: [number, number, number];
}

export interface Panel {
  title: string;
  series: Series[];
  /** Log-scale y (for losses). */
  logY?: boolean;
}

const PANEL_W = 360;
const PANEL_H = 220;
const PAD = 28;

/** 5×7 bitmap digits and lower-case letters, enough for axis labels and panel titles. */
const GLYPHS: Record<string, string[]> = {
  "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
  "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
  "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
  "3": ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
  "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
  "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
  "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
  "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
  "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
  "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
  ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
  "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
  "e": ["00000", "00000", "01110", "10001", "11111", "10000", "01110"],
  "(": ["00010", "00100", "01000", "01000", "01000", "00100", "00010"],
  ")": ["01000", "00100", "00010", "00010", "00010", "00100", "01000"],
  " ": ["00000", "00000", "00000", "00000", "00000", "00000", "00000"],
  "a": ["00000", "00000", "01110", "00001", "01111", "10001", "01111"],
  "b": ["10000", "10000", "10110", "11001", "10001", "10001", "11110"],
  "c": ["00000", "00000", "01110", "10000", "10000", "10001", "01110"],
  "d": ["00001", "00001", "01101", "10011", "10001", "10001", "01111"],
  "f": ["00110", "01001", "01000", "11100", "01000", "01000", "01000"],
  "g": ["00000", "01111", "10001", "10001", "01111", "00001", "01110"],
  "h": ["10000", "10000", "10110", "11001", "10001", "10001", "10001"],
  "i": ["00100", "00000", "01100", "00100", "00100", "00100", "01110"],
  "j": ["00010", "00000", "00110", "00010", "00010", "10010", "01100"],
  "k": ["10000", "10000", "10010", "10100", "11000", "10100", "10010"],
  "l": ["01100", "00100", "00100", "00100", "00100", "00100", "01110"],
  "m": ["00000", "00000", "11010", "10101", "10101", "10001", "10001"],
  "n": ["00000", "00000", "10110", "11001", "10001", "10001", "10001"],
  "o": ["00000", "00000", "01110", "10001", "10001", "10001", "01110"],
  "p": ["00000", "00000", "11110", "10001", "11110", "10000", "10000"],
  "q": ["00000", "00000", "01101", "10011", "01111", "00001", "00001"],
  "r": ["00000", "00000", "10110", "11001", "10000", "10000", "10000"],
  "s": ["00000", "00000", "01110", "10000", "01110", "00001", "11110"],
  "t": ["01000", "01000", "11100", "01000", "01000", "01001", "00110"],
  "u": ["00000", "00000", "10001", "10001", "10001", "10011", "01101"],
  "v": ["00000", "00000", "10001", "10001", "10001", "01010", "00100"],
  "w": ["00000", "00000", "10001", "10001", "10101", "10101", "01010"],
  "x": ["00000", "00000", "10001", "01010", "00100", "01010", "10001"],
  "y": ["00000", "00000", "10001", "10001", "01111", "00001", "01110"],
  "z": ["00000", "00000", "11111", "00010", "00100", "01000", "11111"],
  "_": ["00000", "00000", "00000", "00000", "00000", "00000", "11111"],
};

class Canvas {
  readonly rgb: Uint8Array;
  constructor(readonly w: number, readonly h: number) {
    this.rgb = new Uint8Array(w * h * 3).fill(255);
  }
  set(x: number, y: number, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    const i = (y * this.w + x) * 3;
    this.rgb[i] = c[0];
    this.rgb[i + 1] = c[1];
    this.rgb[i + 2] = c[2];
  }
  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) this.set(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c);
  }
  text(x: number, y: number, s: string, c: readonly number[]): void {
    for (const ch of s.toLowerCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[" "];
      for (let r = 0; r < 7; r++) for (let q = 0; q < 5; q++) if (g[r][q] === "1") this.set(x + q, y + r, c);
      x += 6;
    }
  }
}

function fmt(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e7) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e4)) return v.toExponential(1);
  return a >= 100 ? v.toFixed(0) : v.toFixed(a >= 10 ? 1 : 3);
}

/** Render panels in a grid (2 columns) to PNG bytes. */
export function plotPanels(panels: Panel[]): Uint8Array {
  const cols = Math.min(2, Math.max(1, panels.length));
  const rows = Math.ceil(panels.length / cols);
  const cv = new Canvas(cols * PANEL_W, rows * PANEL_H);
  panels.forEach((panel, i) => drawPanel(cv, panel, (i % cols) * PANEL_W, Math.floor(i / cols) * PANEL_H));
  return encodePng(cv.rgb, cv.w, cv.h, 3);
}

function drawPanel(cv: Canvas, panel: Panel, ox: number, oy: number): void {
  const tf = (y: number) => (panel.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const pts = panel.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const grey = [200, 200, 200];
  const x0 = ox + PAD + 20;
  const x1 = ox + PANEL_W - 10;
  const y0 = oy + 14;
  const y1 = oy + PANEL_H - PAD;
  cv.line(x0, y1, x1, y1, grey);
  cv.line(x0, y0, x0, y1, grey);
  if (pts.length === 0) return;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => tf(p[1]));
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs)];
  let [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  if (ymax - ymin < 1e-9) [ymin, ymax] = [ymin - 1, ymax + 1];
  const px = (x: number) => x0 + ((x - xmin) / Math.max(1e-9, xmax - xmin)) * (x1 - x0);
  const py = (y: number) => y1 - ((tf(y) - ymin) / (ymax - ymin)) * (y1 - y0);
  for (const s of panel.series) {
    const p = s.points.filter(([, y]) => Number.isFinite(y));
    for (let i = 1; i < p.length; i++) cv.line(px(p[i - 1][0]), py(p[i - 1][1]), px(p[i][0]), py(p[i][1]), s.color);
    for (const [x, y] of p.length <= 20 ? p : []) {
      // Sparse series (validation) get a small cross at each point.
      cv.line(px(x) - 2, py(y) - 2, px(x) + 2, py(y) + 2, s.color);
      cv.line(px(x) - 2, py(y) + 2, px(x) + 2, py(y) - 2, s.color);
    }
  }
  const inv = (y: number) => (panel.logY ? 10 ** y : y);
  cv.text(ox + 2, y0, fmt(inv(ymax)), [90, 90, 90]);
  cv.text(ox + 2, y1 - 7, fmt(inv(ymin)), [90, 90, 90]);
  cv.text(x0, y1 + 6, fmt(xmin), [90, 90, 90]);
  cv.text(x1 - 6 * fmt(xmax).length, y1 + 6, fmt(xmax), [90, 90, 90]);
  cv.text(x0 + 8, oy + 2, panel.title + (panel.logY ? " (log)" : ""), [20, 20, 20]);
  // Colour key: a short bar and the label of each series under the axis.
  panel.series.forEach((s, i) => {
    const kx = x0 + 70 + i * 80;
    cv.line(kx, y1 + 10, kx + 16, y1 + 10, s.color);
    cv.text(kx + 20, y1 + 6, s.label, s.color);
  });
}

/** Colours for series: train blue, validation orange, then others. */
export const COLORS: [number, number, number][] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
];
