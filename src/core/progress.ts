/**
 * A progress bar for long work: count, rate, ETA and the latest metrics on one line.
 * On a TTY it redraws in place; elsewhere (CI, pipes) it prints a line every `logEverySec`.
 * It writes to stderr so that `--json` output on stdout stays clean.
 */
export interface ProgressOptions {
  total: number;
  label?: string;
  unit?: string;
  stream?: NodeJS.WriteStream;
  logEverySec?: number;
  /** Starting count, e.g. the step a resumed run begins at. */
  start?: number;
  /** Print nothing at all (for --json runs that want silence, and tests). */
  quiet?: boolean;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "--:--";
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const mm = String(m).padStart(2, "0");
  const ss = String(r).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatMetric(v: number | string): string {
  if (typeof v === "string") return v;
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return a >= 100 ? v.toFixed(1) : v.toFixed(4).replace(/\.?0+$/, "") || "0";
}

export class Progress {
  readonly total: number;
  #count: number;
  readonly #startCount: number;
  readonly #t0 = performance.now();
  #lastLog = 0;
  #lastLoggedCount = -1;
  #metrics: Record<string, number | string> = {};
  readonly #opts: Required<Omit<ProgressOptions, "start" | "total">>;

  constructor(opts: ProgressOptions) {
    this.total = opts.total;
    this.#count = this.#startCount = opts.start ?? 0;
    this.#opts = {
      label: opts.label ?? "",
      unit: opts.unit ?? "it",
      stream: opts.stream ?? process.stderr,
      logEverySec: opts.logEverySec ?? 10,
      quiet: opts.quiet ?? false,
    };
  }

  /** Items per second since this bar started. */
  get rate(): number {
    const sec = (performance.now() - this.#t0) / 1000;
    return sec > 0 ? (this.#count - this.#startCount) / sec : 0;
  }

  get count(): number {
    return this.#count;
  }

  /** Advance by `n` and record metrics to show. */
  tick(n = 1, metrics?: Record<string, number | string>): void {
    this.#count += n;
    if (metrics) Object.assign(this.#metrics, metrics);
    this.#render(false);
  }

  /** Finish: draw the final state and end the line. */
  done(): void {
    this.#render(true);
  }

  line(): string {
    const { label, unit } = this.#opts;
    const frac = this.total > 0 ? Math.min(1, this.#count / this.total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const rate = this.rate;
    const eta = rate > 0 ? (this.total - this.#count) / rate : Number.NaN;
    const elapsed = (performance.now() - this.#t0) / 1000;
    const rateText = rate >= 1 || rate === 0 ? `${rate.toFixed(1)} ${unit}/s` : `${(1 / rate).toFixed(2)} s/${unit}`;
    const metrics = Object.entries(this.#metrics).map(([k, v]) => `${k}=${formatMetric(v)}`).join(" ");
    return `${label ? label + " " : ""}${bar} ${this.#count}/${this.total} ${rateText} ` +
      `${formatDuration(elapsed)}<${formatDuration(eta)}${metrics ? " " + metrics : ""}`;
  }

  #render(final: boolean): void {
    if (this.#opts.quiet) return;
    const { stream, logEverySec } = this.#opts;
    const now = performance.now();
    if (stream.isTTY) {
      if (!final && now - this.#lastLog < 100) return;
      this.#lastLog = now;
      stream.write(`\r\x1b[2K${this.line()}${final ? "\n" : ""}`);
    } else if ((final && this.#lastLoggedCount !== this.#count) || now - this.#lastLog >= logEverySec * 1000) {
      this.#lastLog = now;
      this.#lastLoggedCount = this.#count;
      stream.write(this.line() + "\n");
    }
  }
}
