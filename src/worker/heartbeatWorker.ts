/** The heartbeat thread (heartbeatThread.ts): its own DEALER to the coordinator, one heartbeat a second. */
import { workerData } from "node:worker_threads";
import { ControlClient } from "../comm/control.js";
import { coordinatorMessageSchema, type WorkerMessage } from "../protocol/messages.js";
import type { HeartbeatSettings } from "./heartbeatThread.js";

const settings = workerData as HeartbeatSettings;
const client = await ControlClient.connect<typeof coordinatorMessageSchema, WorkerMessage>(settings.endpoint, {
  keys: settings.keys,
  schema: coordinatorMessageSchema,
  log: () => {}, // the coordinator sends this socket nothing; the worker's own link reports what it refuses
});
setInterval(() => {
  void client.send({ type: "heartbeat", rank: settings.rank, pid: settings.pid }).catch(() => {});
}, settings.intervalMs);
