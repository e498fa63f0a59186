import type { Options } from "yargs";

/**
 * A flag given twice: the last one wins (appending an override to a command is a habit). yargs collects
 * repeats into an array, and with `flatten-duplicate-arrays` off an array-valued flag repeated keeps its
 * groups apart (`--patch 32 32 8 --patch 64 64 16` → [[32,32,8],[64,64,16]]), so the last group can be
 * told from the others. Flags listed in `repeatable` add up instead (`predict --in a --in b`).
 */
export function lastOccurrenceWins(
  args: Record<string, unknown>,
  options: Record<string, Options>,
  repeatable: readonly string[] = [],
): void {
  for (const [key, value] of Object.entries(args)) {
    if (!Array.isArray(value)) continue;
    const name = options[key] ? key : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const option = options[name];
    if (!option) continue;
    if (!option.array) {
      args[key] = value.at(-1);
    } else if (value.some(Array.isArray)) {
      const groups = value.map((v) => (Array.isArray(v) ? v : [v]));
      args[key] = repeatable.includes(name) ? groups.flat() : groups.at(-1);
    }
  }
}
