/**
 * Image quality metrics on host arrays of frames in [0, 1], row-major (F, H, W, C):
 * PSNR, SSIM (Gaussian 11×11, σ 1.5, on luma, as in Wang et al. 2004) and depth MAE.
 * Plain loops: these run on eval-sized data, not inside training.
 */

export interface FrameShape {
  frames: number;
  height: number;
  width: number;
  channels: number;
}

/** Mean over frames of per-frame PSNR (dB) over the first `useChannels` channels. Identical frames count as 100 dB. */
export function psnr(a: Float32Array, b: Float32Array, s: FrameShape, useChannels = Math.min(3, s.channels)): number[] {
  const out: number[] = [];
  const px = s.height * s.width;
  for (let f = 0; f < s.frames; f++) {
    let se = 0;
    const base = f * px * s.channels;
    for (let i = 0; i < px; i++) {
      for (let c = 0; c < useChannels; c++) {
        const j = base + i * s.channels + c;
        const d = Math.min(1, Math.max(0, a[j])) - Math.min(1, Math.max(0, b[j]));
        se += d * d;
      }
    }
    const mse = se / (px * useChannels);
    out.push(mse <= 1e-10 ? 100 : -10 * Math.log10(mse));
  }
  return out;
}

/** Mean absolute error of channel `channel` (depth), as a fraction of the [0, 1] range, per frame. */
export function channelMae(a: Float32Array, b: Float32Array, s: FrameShape, channel: number): number[] {
  const out: number[] = [];
  const px = s.height * s.width;
  for (let f = 0; f < s.frames; f++) {
    let sum = 0;
    const base = f * px * s.channels;
    for (let i = 0; i < px; i++) {
      const j = base + i * s.channels + channel;
      sum += Math.abs(Math.min(1, Math.max(0, a[j])) - Math.min(1, Math.max(0, b[j])));
    }
    out.push(sum / px);
  }
  return out;
}

function luma(x: Float32Array, s: FrameShape, f: number): Float64Array {
  const px = s.height * s.width;
  const out = new Float64Array(px);
  const base = f * px * s.channels;
  for (let i = 0; i < px; i++) {
    const j = base + i * s.channels;
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    out[i] = s.channels >= 3 ? 0.299 * clamp(x[j]) + 0.587 * clamp(x[j + 1]) + 0.114 * clamp(x[j + 2]) : clamp(x[j]);
  }
  return out;
}

const GAUSS = (() => {
  const r = 5;
  const w = [];
  for (let i = -r; i <= r; i++) w.push(Math.exp(-(i * i) / (2 * 1.5 * 1.5)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
})();

/** Separable Gaussian blur with edge clamping. */
function blur(img: Float64Array, h: number, w: number): Float64Array {
  const r = (GAUSS.length - 1) / 2;
  const tmp = new Float64Array(h * w);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -r; k <= r; k++) s += GAUSS[k + r] * img[y * w + Math.min(w - 1, Math.max(0, x + k))];
      tmp[y * w + x] = s;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = -r; k <= r; k++) s += GAUSS[k + r] * tmp[Math.min(h - 1, Math.max(0, y + k)) * w + x];
      out[y * w + x] = s;
    }
  return out;
}

/** Per-frame SSIM on luma (data range 1). */
export function ssim(a: Float32Array, b: Float32Array, s: FrameShape): number[] {
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const { height: h, width: w } = s;
  const out: number[] = [];
  for (let f = 0; f < s.frames; f++) {
    const x = luma(a, s, f);
    const y = luma(b, s, f);
    const n = h * w;
    const xx = new Float64Array(n);
    const yy = new Float64Array(n);
    const xy = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
    const mx = blur(x, h, w);
    const my = blur(y, h, w);
    const sxx = blur(xx, h, w);
    const syy = blur(yy, h, w);
    const sxy = blur(xy, h, w);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const vx = sxx[i] - mx[i] * mx[i];
      const vy = syy[i] - my[i] * my[i];
      const cxy = sxy[i] - mx[i] * my[i];
      total += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] ** 2 + my[i] ** 2 + C1) * (vx + vy + C2));
    }
    out.push(total / n);
  }
  return out;
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/** Standard error of the mean: sample standard deviation / √n (NaN below two values). */
export function stderr(xs: number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  const variance = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
  return Math.sqrt(variance / xs.length);
}
