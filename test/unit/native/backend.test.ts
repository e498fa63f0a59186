import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { initBackend } from "../../../src/native/backend.js";

describe("initBackend", () => {
  it("refuses --backend gpu with the install hint when tfjs-node-gpu is absent", async () => {
    const error = await initBackend({ backend: "gpu", gpuIndex: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(
      "--backend gpu: @tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu; needs CUDA 11.2 / cuDNN 8.1)",
    );
    expect(process.env.CUDA_VISIBLE_DEVICES).toBe("1");
  });

  it("falls back from auto to the cpu backend, with the native kernels when the addon is built", async () => {
    const info = await initBackend({ backend: "auto", threads: 1 });
    expect(info.name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(info.native).toBe(info.nativeKernels.length > 0);
    for (const name of info.nativeKernels) expect(tf.getKernel(name, "cpu")).toBeDefined();
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });

  it("names the option for a bad thread count", async () => {
    await expect(initBackend({ backend: "cpu", threads: 0 })).rejects.toThrow(/^--threads: must be a positive integer/);
  });
});
