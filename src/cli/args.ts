/**
 * argv parsing shared by every command: positionals, `--flag value`, `--flag=value`, boolean
 * `--flag`, and dotted config overrides (`--model.layers=8`), which are kept apart so that each
 * command checks them against its own config defaults.
 */
export interface ParsedArgs {
  positionals: string[];
  /** Plain options (no dot in the name). A bare `--flag` is "true". */
  flags: Record<string, string>;
  /** Dotted options, for config overrides: `--model.layers=8` → { "model.layers": "8" }. */
  overrides: Record<string, string>;
}

export function parseArgs(argv: string[], booleanFlags: readonly string[] = []): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: {}, overrides: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "-") {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (booleanFlags.includes(name) || i + 1 >= argv.length || argv[i + 1].startsWith("--")) value = "true";
    else value = argv[++i];
    (name.includes(".") ? out.overrides : out.flags)[name] = value;
  }
  return out;
}

/** Fail with a clear message when a command gets an option it does not know. */
export function checkFlags(args: ParsedArgs, allowed: readonly string[], command: string): void {
  for (const name of Object.keys(args.flags)) {
    if (!allowed.includes(name)) {
      throw new UsageError(`worldkit ${command}: unknown option --${name} (options: ${allowed.map((a) => "--" + a).join(" ")})`);
    }
  }
}

/** Read a required option, or fail naming it. */
export function requireFlag(args: ParsedArgs, name: string, command: string): string {
  const v = args.flags[name];
  if (v === undefined || v === "true") throw new UsageError(`worldkit ${command}: --${name} is required`);
  return v;
}

/** Read an integer option with a default, or fail naming it. */
export function intFlag(args: ParsedArgs, name: string, fallback: number): number {
  const v = args.flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${v}"`);
  return n;
}

/** An error in how a command was called: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}
