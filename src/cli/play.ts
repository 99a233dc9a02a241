/**
 * `worldkit play`: play a world folder in the browser (a local server for the page in web/) or,
 * with --tui, in the terminal.
 *
 *   worldkit play --world models/default            # prints http://127.0.0.1:8080/
 *   worldkit play --world models/default --tui
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initDevice } from "../core/device.js";
import { disposeWorld } from "../world/dynamics-io.js";
import { WorldSession } from "../world/session.js";
import { startServer } from "../player/server.js";
import { runTui } from "../player/tui.js";
import { isWorldFile, loadWorldFiles } from "../player/world-files.js";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError } from "./args.js";
import { BACKEND_FLAGS, BACKEND_SWITCHES, BACKEND_USAGE, backendFlags } from "./backend-flags.js";
import type { BackendChoice } from "./backend-flags.js";
import type { Command } from "./command.js";

const USAGE = `worldkit play --world PATH [options]

  --world PATH     world folder (tokenizer.safetensors, dynamics.safetensors, actions.json, start.safetensors)
  --port N         port of the local server (default 8080; 0 = any free port)
  --host H         interface to bind (default 127.0.0.1; give 0.0.0.0 to share on your network)
  --tui            play in this terminal instead (arrows/space act, p pauses, r resets, q quits)
  --seed N         sampling seed (terminal player; default 0)
${BACKEND_USAGE}
                     (the terminal player's session; the page picks its own: onnxruntime-web, ?backend=jax)`;

/** The built page: dist/web beside dist/cli (also right from src/cli under tsx). */
export const WEB_DIR = fileURLToPath(new URL("../../dist/web/", import.meta.url));

function checkWorldDir(dir: string): void {
  for (const f of ["tokenizer.safetensors", "dynamics.safetensors"]) {
    if (!existsSync(join(dir, f))) throw new Error(`${dir} is not a world folder: ${f} is missing`);
  }
}

async function playTui(dir: string, seed: number, backend: BackendChoice): Promise<number> {
  await initDevice();
  const read = async (name: string) => (isWorldFile(name) && existsSync(join(dir, name)) ? new Uint8Array(await readFile(join(dir, name))) : null);
  const bundle = await loadWorldFiles(read, dir);
  const c = bundle.world.tokenizer.config;
  const session = new WorldSession(bundle.world, { seed, ...backend });
  const start = bundle.start ?? { frames: new Float32Array(c.height * c.width * c.channels).fill(0.5), count: 1 };
  try {
    await runTui({ session, start, actions: bundle.actions, idleCode: bundle.idleCode, input: process.stdin, output: process.stdout });
  } finally {
    session.dispose();
    disposeWorld(bundle.world);
  }
  return 0;
}

export const play: Command = {
  name: "play",
  summary: "play a world in the browser (local server) or in the terminal (--tui)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["tui", ...BACKEND_SWITCHES]);
    checkFlags(args, ["world", "port", "host", "tui", "seed", ...BACKEND_FLAGS], "play");
    const backend = backendFlags(args, "play");
    const dir = requireFlag(args, "world", "play");
    checkWorldDir(dir);
    if (args.flags.tui) return playTui(dir, intFlag(args, "seed", 0), backend);
    if (!existsSync(join(WEB_DIR, "index.html"))) throw new Error(`the page is not built (${WEB_DIR}index.html is missing); run npm run build`);
    const port = intFlag(args, "port", 8080);
    if (port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${port}`);
    const host = args.flags.host ?? "127.0.0.1";
    const server = await startServer({ worldDir: dir, webDir: WEB_DIR, port, host });
    console.log(`worldkit play: ${dir} at ${server.url}  (Ctrl-C stops)`);
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") console.log(`note: bound to ${host}, reachable beyond this machine`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await server.close();
    return 0;
  },
};
