/**
 * "After the pending microtasks": callbacks run in the next macrotask, all those asked for
 * before it in one timer. An execution asks after every step (is the run idle? are held-back
 * outputs still unstored? have sibling branches asked for their steps?), so a worker running
 * many runs asked for many timers in the same turn; one timer for all of them costs one
 * wake-up instead of one each.
 */

let queue: (() => void)[] = [];

/** Runs `fn` in the next macrotask, after every microtask pending now (as `setTimeout(fn, 0)`). */
export function afterMicrotasks(fn: () => void): void {
  queue.push(fn);
  if (queue.length === 1) setTimeout(drain, 0);
}

/** Resolves in the next macrotask, after every microtask pending now. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => afterMicrotasks(resolve));
}

function drain(): void {
  // Callbacks asked for while these run wait for the next timer, as with their own.
  const fns = queue;
  queue = [];
  for (const fn of fns) {
    try {
      fn();
    } catch (err) {
      // As a timer's callback would: reported, without keeping the others from running.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
