/**
 * `worldkit` command dispatcher: the only place that reads argv and picks a command. Commands
 * are loaded lazily so `worldkit --help` starts instantly and a command's dependencies load
 * only when it runs.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./args.js";
import type { Command } from "./command.js";

/** Registered commands: name → loader. Add one line per command module. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  demo: async () => (await import("./demo.js")).demo,
  train: async () => (await import("./train.js")).train,
  eval: async () => (await import("./eval.js")).evalCommand,
  data: async () => (await import("./data.js")).data,
  rollout: async () => (await import("./rollout.js")).rollout,
  pack: async () => (await import("./pack.js")).pack,
  play: async () => (await import("./play.js")).play,
  imagine: async () => (await import("./imagine.js")).imagine,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function help(): Promise<string> {
  const lines = [
    `worldkit ${version()} — learn an interactive world from video, then play it`,
    "",
    "usage: worldkit <command> [options]        worldkit <command> --help",
    "",
    "commands:",
  ];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(12)} ${(await load()).summary}`);
  lines.push("", "Numbers come as --json where a command produces them. Threads: WORLDKIT_THREADS=N.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(await help());
    return 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(version());
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`worldkit: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`);
    return 2;
  }
  const command = await load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(err.message);
      return 2;
    }
    const e = err as Error;
    console.error(`worldkit ${name}: ${e.message}`);
    if (process.env.WORLDKIT_DEBUG) console.error(e.stack);
    return 1;
  }
}
