/** The shape of one `worldkit <name>` command. Commands live in src/cli/<name>.ts. */
export interface Command {
  name: string;
  /** One line for `worldkit --help`. */
  summary: string;
  /** Full usage text for `worldkit <name> --help`. */
  usage: string;
  /** Run with the arguments after the command name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
