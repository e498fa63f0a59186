import { defineCommand } from "./command.js";

export const benchCommand = defineCommand({
  command: "bench <which>",
  describe:
    "Benchmarks (step: one training step of the bench U-Net; allreduce: ring all-reduce; data: loading; " +
    "scaling: training across network-namespace hosts on shaped links)",
  positionals: {
    which: {
      choices: ["step", "allreduce", "data", "scaling"] as const,
      describe: "step | allreduce | data | scaling",
    },
  },
  options: {
    json: { type: "boolean", default: false, describe: "Print the result as one JSON object on the last line" },
    batch: { type: "number", default: 2, describe: "step: batch size" },
    patch: { type: "number", array: true, default: [96, 96, 32], describe: "step: patch size X Y Z" },
    threads: { type: "number", describe: "step: threads (default: all cores)" },
    steps: { type: "number", default: 3, describe: "step, scaling: timed steps after the warm-up" },
    backend: { choices: ["auto", "gpu", "cpu"] as const, default: "cpu" as const, describe: "step: tensor backend" },
    workers: { type: "number", default: 4, describe: "allreduce: number of processes" },
    mb: { type: "number", default: 64, describe: "allreduce: megabytes of float32 reduced per iteration" },
    iterations: { type: "number", default: 5, describe: "allreduce: timed iterations" },
    amp: {
      type: "boolean",
      default: false,
      describe: "allreduce, scaling: half floats on the wire (fp16), reduced in fp32",
    },
    transport: {
      choices: ["auto", "ipc", "tcp", "netns"] as const,
      default: "auto" as const,
      describe:
        "allreduce: auto (shared memory + Unix sockets on one host), ipc (sockets only), loopback tcp, or netns " +
        "(each rank on a network-namespace host of its own, links shaped to --rate, CURVE; needs root)",
    },
    "data-plane": {
      choices: ["auto", "js"] as const,
      default: "auto" as const,
      describe: "allreduce: who moves the stream ring's frames: auto (native when the comm addon has it) or js",
    },
    copy: {
      type: "boolean",
      default: false,
      describe: "allreduce: reduce a plain array (copied in and out) instead of the ring's own buffer",
    },
    data: { type: "string", describe: "data: Decathlon task directory to load" },
    hosts: { type: "number", default: 4, describe: "scaling: network-namespace hosts (needs root)" },
    rate: {
      type: "string",
      default: "1gbit",
      describe:
        "scaling, allreduce --transport netns: tc tbf rate of each host's link, both ways (allreduce: none = unshaped)",
    },
    warmup: { type: "number", default: 2, describe: "scaling: untimed steps first" },
    "bucket-mb": { type: "number", describe: "scaling: passed to train as --bucket-mb" },
    anchor: { type: "boolean", default: false, describe: "scaling: also run PyTorch DDP (gloo) on the same hosts" },
    "anchor-script": {
      type: "string",
      default: "../shared/anchors/ddp_unet.py",
      describe: "scaling: the DDP anchor script",
    },
  },
  examples: [
    ["orchestrate bench step --json --batch 2 --patch 96 96 32 --threads 2", "the bench U-Net's training step"],
    ["orchestrate bench allreduce --workers 4 --mb 64 --json", "busbw of the ZeroMQ ring"],
    ["orchestrate bench allreduce --transport tcp --data-plane js --json", "the JavaScript data plane, for comparison"],
    ["orchestrate bench allreduce --workers 2 --transport netns --rate 1gbit --json", "the ring on a shaped link"],
    ["orchestrate bench data --data Task05_Prostate --json", "cases per second, load + resample + z-score"],
    ["orchestrate bench scaling --hosts 4 --rate 1gbit --steps 8 --anchor --json", "voxring vs DDP across hosts"],
  ],
  run: async (args) => {
    // Each benchmark lives in bench/ and is loaded only when asked for, so `bench data` never loads tfjs.
    const modules = {
      step: () => import("../../bench/step.js"),
      allreduce: () => import("../../bench/allreduce.js"),
      data: () => import("../../bench/data.js"),
      scaling: () => import("../../bench/scaling.js"),
    };
    const bench = await modules[args.which as keyof typeof modules]();
    const result = await bench.run(args);
    process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
    return 0;
  },
});
