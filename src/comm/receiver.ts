import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isLoopbackEndpoint } from "./security.js";

/**
 * Where a ring rank's receiver binds, for both streamed rings (streamRing.ts, nativeStreamRing.ts). A
 * loopback TCP address can only be dialled from this host, so (transport "auto") the receiver binds a Unix
 * socket in a private 0700 directory instead: same reach, no TCP stack per frame, and no other user can
 * connect to or replace the socket file.
 */
export interface ReceiverAddress {
  /** what to bind: tcp://host:* for a port to be picked, or ipc://DIR/recv */
  address: string;
  /** the private directory of an ipc receiver, removed by removeReceiverDir */
  ipcDir?: string;
}

export function receiverAddress(
  bind: string,
  transport: "auto" | "as-given" = "auto",
  /** where the private directory goes (the run's folder, removed by its coordinator); default the temp folder */
  parent: string = tmpdir(),
): ReceiverAddress {
  const useIpc = transport === "auto" && bind.startsWith("tcp://") && isLoopbackEndpoint(bind);
  if (!useIpc) return { address: bind.replace(/:0$/, ":*") };
  const ipcDir = mkdtempSync(join(parent, "voxring-ring-"));
  return { address: `ipc://${join(ipcDir, "recv")}`, ipcDir };
}

/** The endpoint peers dial: the bound one, with `advertiseHost` in place of a wildcard host. */
export function advertisedEndpoint(bound: string, advertiseHost: string | undefined): string {
  return advertiseHost ? bound.replace(/^tcp:\/\/.*:(\d+)$/, `tcp://${advertiseHost}:$1`) : bound;
}

export function removeReceiverDir(ipcDir: string | undefined): void {
  if (ipcDir) rmSync(ipcDir, { recursive: true, force: true });
}
