import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cliPath } from "./supervisor.js";

/**
 * The module a worker thread runs: `name` beside the caller's module in dist/, or dist's copy of it when the
 * caller runs from src/ under vitest (a thread cannot load TypeScript).
 */
export function threadModule(callerUrl: string, name: string): string {
  const here = fileURLToPath(callerUrl);
  const sibling = join(dirname(here), name);
  if (here.endsWith(".js") && existsSync(sibling)) return sibling;
  return join(dirname(cliPath()), "..", "coordinator", name);
}
