import type { ArgumentsCamelCase, InferredOptionTypes, Options, PositionalOptions } from "yargs";
import { InputError } from "../errors.js";

/**
 * One CLI command as plain data: its yargs spelling, help text, option table and the function that runs it.
 * The option table is typed data, and `run` receives exactly the types yargs infers from it, so a flag
 * and the code that reads it cannot drift apart.
 */
export interface CommandSpec<O extends Record<string, Options>> {
  /** yargs command string, e.g. "inspect <file>" or "train" */
  command: string;
  aliases?: string[];
  describe: string;
  positionals?: Record<string, PositionalOptions>;
  options: O;
  /** Flags whose repeats add up (`--in a --in b`); every other repeated flag: the last one wins. */
  repeatable?: (keyof O & string)[];
  examples?: [string, string][];
  /** Checks across options that yargs cannot express; throw InputError naming the option. */
  check?: (args: ArgumentsCamelCase<InferredOptionTypes<O>>) => void;
  /** Returns the process exit status. */
  run: (args: ArgumentsCamelCase<InferredOptionTypes<O>>) => Promise<number>;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry of heterogenous specs, each typed at its definition
export type AnyCommandSpec = CommandSpec<any>;

export function defineCommand<O extends Record<string, Options>>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

/** For commands whose issue has not landed yet: a clear refusal, never fake output. */
export function notImplemented(what: string): never {
  throw new InputError(`${what}: not implemented yet`);
}
