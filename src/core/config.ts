/**
 * Typed configuration: frozen defaults, JSON files and dotted overrides that are checked
 * against the defaults, so a typo (`--model.layrs=8`) or a wrong type (`--model.layers=eight`)
 * is an error naming the key, never a silently ignored setting.
 *
 * Each model or phase declares `interface XConfig` (doc comment per field), a frozen
 * `X_DEFAULTS: XConfig`, and resolves user input with `resolveConfig(X_DEFAULTS, ...)`.
 */

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

/** Recursively freeze a defaults object, so nothing can change it by accident. */
export function freezeDeep<T>(value: T): Readonly<T> {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) freezeDeep(v);
    Object.freeze(value);
  }
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  return typeof v;
}

/** All dotted leaf keys of a config, e.g. ["model.layers", "model.width", "lr"]. */
export function configKeys(defaults: object, prefix = ""): string[] {
  const keys: string[] = [];
  for (const [k, v] of Object.entries(defaults)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v)) keys.push(...configKeys(v, path));
    else keys.push(path);
  }
  return keys;
}

/** Closest known keys to an unknown one, for "did you mean" hints. */
function suggest(key: string, known: string[]): string {
  const leaf = key.split(".").pop()!;
  const close = known.filter((k) => k.endsWith(`.${leaf}`) || k === leaf || k.startsWith(key.split(".")[0] + "."));
  const list = (close.length ? close : known).slice(0, 8).join(", ");
  return ` (known keys: ${list}${known.length > 8 && !close.length ? ", ..." : ""})`;
}

/**
 * Merge `layers` (each a partial config: defaults < file < CLI) over `defaults`, checking every
 * key and type. Returns a new, fully populated, frozen config. `source` names where the layer
 * came from in error messages (a file path, "command line").
 */
export function resolveConfig<T extends object>(
  defaults: T,
  ...layers: { values: unknown; source: string }[]
): T {
  let out: unknown = structuredClone(defaults);
  for (const { values, source } of layers) out = mergeChecked(out, values, "", source, configKeys(defaults));
  return freezeDeep(out as T);
}

function mergeChecked(base: unknown, over: unknown, path: string, source: string, known: string[]): unknown {
  if (isPlainObject(base)) {
    if (!isPlainObject(over)) {
      throw new Error(`config ${source}: "${path || "(root)"}" must be an object, got ${kindOf(over)}`);
    }
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const p = path ? `${path}.${k}` : k;
      if (!(k in base)) throw new Error(`config ${source}: unknown key "${p}"${suggest(p, known)}`);
      out[k] = mergeChecked(base[k], v, p, source, known);
    }
    return out;
  }
  if (kindOf(base) !== kindOf(over)) {
    throw new Error(`config ${source}: "${path}" must be ${kindOf(base)}, got ${kindOf(over)} (${JSON.stringify(over)})`);
  }
  if (typeof base === "number" && !Number.isFinite(over as number)) {
    throw new Error(`config ${source}: "${path}" must be a finite number, got ${over}`);
  }
  return structuredClone(over);
}

/**
 * Turn dotted string overrides (from argv: `model.layers` → "8") into a nested partial config,
 * parsing each value by the type of its default. Unknown keys and unparsable values throw.
 */
export function parseOverrides(defaults: object, overrides: Record<string, string>): Record<string, unknown> {
  const known = configKeys(defaults);
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(overrides)) {
    let node: unknown = defaults;
    for (const part of key.split(".")) {
      if (!isPlainObject(node) || !(part in node)) {
        throw new Error(`unknown option --${key}${suggest(key, known)}`);
      }
      node = node[part];
    }
    if (isPlainObject(node)) throw new Error(`--${key} is a group; set one of its keys, e.g. --${configKeys(node, key)[0]}=...`);
    const value = parseValue(node, raw, key);
    const parts = key.split(".");
    let target = out;
    for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>;
    target[parts[parts.length - 1]] = value;
  }
  return out;
}

function parseValue(def: unknown, raw: string, key: string): unknown {
  switch (kindOf(def)) {
    case "number": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new Error(`--${key} must be a number, got "${raw}"`);
      return n;
    }
    case "boolean":
      if (raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw new Error(`--${key} must be true or false, got "${raw}"`);
    case "string":
      return raw;
    case "array": {
      let parsed: unknown;
      try {
        parsed = raw.trim().startsWith("[") ? JSON.parse(raw) : raw.split(",").map((s) => s.trim());
      } catch {
        throw new Error(`--${key} must be a JSON array or a comma list, got "${raw}"`);
      }
      const arr = parsed as unknown[];
      const elem = (def as unknown[])[0];
      return typeof elem === "number" ? arr.map((v) => parseValue(0, String(v), key)) : arr;
    }
    default:
      throw new Error(`--${key} cannot be set from the command line (its default is ${kindOf(def)})`);
  }
}
