import { describe, expect, it } from "vitest";
import { inKeyOrder } from "../../functions/audit-scan/in-key-order.ts";

/** Lets every pending promise callback run (no timers). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn++) await Promise.resolve();
}

/** Tasks the test finishes by hand, with a log of when each started and ended. */
function manualTasks() {
  const log: string[] = [];
  const finish = new Map<string, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  const work = (name: string) => {
    log.push(`start ${name}`);
    return new Promise<string>((resolve, reject) => {
      finish.set(name, {
        resolve: (value) => {
          log.push(`end ${name}`);
          resolve(value);
        },
        reject,
      });
    });
  };
  return { log, finish, work };
}

describe("inKeyOrder", () => {
  it("returns the results in the items' order, whatever order the tasks finish in", async () => {
    const { finish, work } = manualTasks();

    const all = inKeyOrder(["a", "b", "c"], (item) => [item], 3, work);
    await settle();
    finish.get("c")?.resolve("C");
    finish.get("a")?.resolve("A");
    finish.get("b")?.resolve("B");

    expect(await all).toEqual(["A", "B", "C"]);
  });

  it("keeps at most `limit` tasks in flight", async () => {
    const { log, finish, work } = manualTasks();

    const all = inKeyOrder(["a", "b", "c", "d"], (item) => [item], 2, work);
    await settle();
    expect(log).toEqual(["start a", "start b"]);
    finish.get("b")?.resolve("B");
    await settle();
    expect(log).toEqual(["start a", "start b", "end b", "start c"]);
    finish.get("a")?.resolve("A");
    finish.get("c")?.resolve("C");
    await settle();
    finish.get("d")?.resolve("D");

    expect(await all).toEqual(["A", "B", "C", "D"]);
  });

  it("starts an item only after every earlier item sharing one of its keys has settled", async () => {
    const { log, finish, work } = manualTasks();
    const keys: Record<string, string[]> = { a: ["x"], b: ["y"], c: ["x", "y"], d: ["z"] };

    const all = inKeyOrder(["a", "b", "c", "d"], (item) => keys[item] ?? [], 8, work);
    await settle();
    expect(log).toEqual(["start a", "start b", "start d"]);
    finish.get("a")?.resolve("A");
    await settle();
    expect(log).not.toContain("start c");
    finish.get("b")?.reject(new Error("b failed"));
    await settle();
    expect(log).toContain("start c");
    finish.get("c")?.resolve("C");
    finish.get("d")?.resolve("D");

    await expect(all).rejects.toThrow("b failed");
  });

  it("awaits every started task before throwing the first failure", async () => {
    const { log, finish, work } = manualTasks();
    let outcome = "pending";

    const all = inKeyOrder(["a", "b"], (item) => [item], 2, work).catch((error: Error) => {
      outcome = error.message;
    });
    await settle();
    finish.get("a")?.reject(new Error("a failed"));
    await settle();
    expect(outcome).toBe("pending");
    finish.get("b")?.resolve("B");
    await all;

    expect(outcome).toBe("a failed");
    expect(log).toEqual(["start a", "start b", "end b"]);
  });

  it("runs the items one after another, in order, with a limit of 1", async () => {
    const { log, finish, work } = manualTasks();

    const all = inKeyOrder(["a", "b", "c"], () => [], 1, work);
    for (const name of ["a", "b", "c"]) {
      await settle();
      finish.get(name)?.resolve(name.toUpperCase());
    }

    expect(await all).toEqual(["A", "B", "C"]);
    expect(log).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
  });
});
