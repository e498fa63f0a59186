/**
 * The `orchestrate` command line.
 *
 *   orchestrate --gpus 4                          train on the built-in synthetic dataset
 *   orchestrate train --gpus 4 --data Task05_Prostate --out runs/p1
 *   orchestrate synth --out data/synth --cases 32 --seed 1
 *   orchestrate inspect imagesTr/prostate_00.nii.gz --json
 *   orchestrate check --data data/Task05_Prostate
 *   orchestrate export --run runs/p1 --out bundles/p1
 *   orchestrate predict --model bundles/p1 --in case.nii.gz --out mask.nii.gz --png mask.png
 *   orchestrate bench step --json
 *   orchestrate worker --coordinator tcp://10.0.0.2:5555
 *   orchestrate view runs/p1                      the live page of a run, from its directory
 */
import yargs, { type ArgumentsCamelCase, type Argv } from "yargs";
import { EnvironmentError, EXIT_INPUT_ERROR, InputError } from "../errors.js";
import { benchCommand } from "./bench.js";
import { checkCommand } from "./check.js";
import type { AnyCommandSpec } from "./command.js";
import { exportCommand } from "./export.js";
import { inspectCommand } from "./inspect.js";
import { predictCommand } from "./predict.js";
import { lastOccurrenceWins } from "./repeats.js";
import { synthCommand } from "./synth.js";
import { trainCommand } from "./train.js";
import { viewCommand } from "./view.js";
import { workerCommand } from "./worker.js";

/** Every command, in the order `--help` lists them. */
export const commands = {
  train: trainCommand,
  synth: synthCommand,
  inspect: inspectCommand,
  check: checkCommand,
  export: exportCommand,
  predict: predictCommand,
  bench: benchCommand,
  worker: workerCommand,
  view: viewCommand,
} satisfies Record<string, AnyCommandSpec>;

export type CommandName = keyof typeof commands;

export interface ParsedCli {
  command: CommandName;
  args: ArgumentsCamelCase;
}

function buildParser(argv: string[], onSelect: (parsed: ParsedCli) => void): Argv {
  let parser = yargs(argv)
    .scriptName("orchestrate")
    .strict()
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .help()
    .alias("help", "h")
    .version(false)
    // repeats of an array-valued flag stay apart, so that the last one can win (cli/repeats.ts)
    .parserConfiguration({ "flatten-duplicate-arrays": false })
    .fail((message, error) => {
      // yargs validation messages name the option at fault; keep them one line.
      throw error instanceof InputError || !error ? new InputError(message ?? String(error)) : error;
    });
  for (const [name, spec] of Object.entries(commands) as [CommandName, AnyCommandSpec][]) {
    parser = parser.command(
      [spec.command, ...(spec.aliases ?? [])],
      spec.describe,
      (y) => {
        let b = y.options(spec.options).middleware((args) => {
          lastOccurrenceWins(args, spec.options, spec.repeatable);
        }, true);
        for (const [key, positional] of Object.entries(spec.positionals ?? {})) b = b.positional(key, positional);
        for (const [example, what] of spec.examples ?? []) b = b.example(example, what);
        if (spec.check) {
          const check = spec.check;
          b = b.check((args) => {
            check(args);
            return true;
          });
        }
        return b;
      },
      (args) => onSelect({ command: name, args }),
    );
  }
  return parser;
}

/**
 * Parses argv without running anything. Returns null when yargs answered by itself (--help).
 * Throws InputError for bad flags.
 */
export async function parseCLI(argv: string[]): Promise<ParsedCli | null> {
  let selected: ParsedCli | null = null;
  await buildParser(argv, (parsed) => {
    selected = parsed;
  }).parseAsync();
  return selected;
}

/** Runs the command line and returns the exit status: 0 success, 2 bad input, 1 the environment (a full disk) or a bug. */
export async function main(argv: string[]): Promise<number> {
  try {
    const parsed = await parseCLI(argv);
    if (!parsed) return 0;
    const spec: AnyCommandSpec = commands[parsed.command];
    return await spec.run(parsed.args);
  } catch (error) {
    if (error instanceof InputError) {
      process.stderr.write(`orchestrate: ${oneLine(error.message)}\n`);
      return EXIT_INPUT_ERROR;
    }
    if (error instanceof EnvironmentError) {
      process.stderr.write(`orchestrate: ${oneLine(error.message)}\n`);
      return 1;
    }
    if (process.env.VOXRING_DEBUG) throw error;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`orchestrate: internal error: ${oneLine(message)} (VOXRING_DEBUG=1 for the stack)\n`);
    return 1;
  }
}

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}
