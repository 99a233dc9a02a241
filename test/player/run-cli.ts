// Runs `worldkit ARGS` from the sources (no build needed): the tmux test starts the terminal player with it.
import { main } from "../../src/cli/main.js";

process.exit(await main(process.argv.slice(2)));
