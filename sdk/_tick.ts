/**
 * "After the pending microtasks": callbacks run in the next macrotask, all those asked for
 * before it in one turn. An execution asks after every step (is the run idle? are held-back
 * outputs still unstored? have sibling branches asked for their steps?), so a worker running
 * many runs asked for many macrotasks in the same turn; one for all of them costs one turn
 * instead of one each.
 *
 * The macrotask is an immediate where the runtime has one (Deno, Node, Bun), else a message to
 * a channel of our own (browsers, workers), else a zero timer: a timer is the costliest, since
 * runtimes clamp it to a millisecond or more (about 2 ms per turn in Deno 2.9 on an idle
 * process), and it is a wake-up of its own.
 */

let queue: (() => void)[] = [];

/** Runs `fn` in the next macrotask, after every microtask pending now (as `setTimeout(fn, 0)`). */
export function afterMicrotasks(fn: () => void): void {
  queue.push(fn);
  if (queue.length === 1) schedule(drain);
}

/** Resolves in the next macrotask, after every microtask pending now. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => afterMicrotasks(resolve));
}

function drain(): void {
  // Callbacks asked for while these run wait for the next turn, as with their own.
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

type Schedule = (fn: () => void) => void;

const schedule: Schedule = scheduler(
  globalThis as {
    setImmediate?: (fn: () => void) => unknown;
    MessageChannel?: typeof MessageChannel;
  },
);

/** The runtime's cheapest macrotask (exported for tests, which pass a runtime's globals). */
export function scheduler(g: {
  setImmediate?: (fn: () => void) => unknown;
  MessageChannel?: typeof MessageChannel;
}): Schedule {
  if (typeof g.setImmediate === "function") {
    const setImmediate = g.setImmediate;
    return (fn) => void setImmediate(fn);
  }
  if (typeof g.MessageChannel === "function") {
    // Created when first asked for: only a worker's execution asks.
    let port: MessagePort | undefined;
    const pending: (() => void)[] = [];
    return (fn) => {
      if (!port) {
        const channel = new g.MessageChannel!();
        channel.port1.onmessage = () => pending.shift()?.();
        port = channel.port2;
      }
      pending.push(fn);
      port.postMessage(null);
    };
  }
  return (fn) => void setTimeout(fn, 0);
}
