import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          setupFiles: ["test/setup.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          setupFiles: ["test/setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Throwaway database servers are heavy; two cores.
          fileParallelism: true,
          maxWorkers: 2,
          // Projects with different worker limits must run in separate groups: unit first.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
