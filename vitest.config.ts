import { defineConfig } from "vitest/config";

// Two projects: fast unit suites (pure functions, single kernels) and end-to-end suites that spawn
// the built CLI and real worker processes. Both run in CI; e2e files run one at a time because each
// of them already loads both cores of the machine.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 60_000,
          pool: "forks",
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          pool: "forks",
          fileParallelism: false,
          globalSetup: ["test/e2e/globalSetup.ts"],
        },
      },
    ],
  },
});
