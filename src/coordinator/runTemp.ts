/**
 * The run's own folder in the temp directory, handed to the local workers (VOXRING_RING_DIR): each rank
 * makes its ring receiver's private directory inside it. A worker killed with SIGKILL (or SIGTERM by a
 * restart) cannot clean up after itself; the coordinator removes the whole folder when it exits, so no
 * `voxring-ring-*` directory outlives a run, clean or failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function makeRunTemp(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "voxring-run-"));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  // Also on paths that never reach the end of the run (process.exit after a second Ctrl-C, a bug).
  process.once("exit", remove);
  return {
    dir,
    remove: () => {
      process.off("exit", remove);
      remove();
    },
  };
}
