/**
 * Runs work over items with at most `limit` in flight, an item starting only after every earlier item that
 * shares one of its keys has settled; results come back in the items' order. With a limit of 1 the items
 * run one after another in order. When a task fails, the tasks already started are awaited before the
 * first failure is thrown, so no state call runs on after the caller has moved on.
 */
export async function inKeyOrder<T, R>(
  items: readonly T[],
  keysOf: (item: T) => readonly string[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  if (limit <= 1 || items.length <= 1) {
    const results: R[] = [];
    for (const item of items) results.push(await work(item));
    return results;
  }
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
  };
  const release = () => {
    const next = waiting.shift();
    // The slot passes straight to the next waiter; it is free only when nobody waits.
    if (next) next();
    else running--;
  };
  const last = new Map<string, Promise<void>>();
  const tasks = items.map((item) => {
    const keys = keysOf(item);
    const before = new Set<Promise<void>>();
    for (const key of keys) {
      const previous = last.get(key);
      if (previous) before.add(previous);
    }
    const task = (async () => {
      if (before.size > 0) await Promise.all(before);
      await acquire();
      try {
        return await work(item);
      } finally {
        release();
      }
    })();
    const settled = task.then(
      () => undefined,
      () => undefined,
    );
    for (const key of keys) last.set(key, settled);
    return task;
  });
  const outcomes = await Promise.allSettled(tasks);
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed) throw failed.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<R>).value);
}
