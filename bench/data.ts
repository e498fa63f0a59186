import { notImplemented } from "../src/coordinator/command.js";

export type BenchArgs = Record<string, unknown>;

export async function run(_args: BenchArgs): Promise<Record<string, unknown>> {
  return notImplemented("bench data");
}
