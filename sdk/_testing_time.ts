/**
 * Virtual time of a `TestEnv`: `skipTime` walks the clock through every timer in a window,
 * letting the runs each one wakes run until they wait again, and auto-skip jumps to the next
 * timer while the test awaits a run's result and no run has work to do. The clock itself, and
 * the checks of "busy" and "next timer", are the test server's (`@kagzi/server/testing`).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { GetWorkflowRequestSchema } from "@kagzi/proto";
import type { TestServer } from "@kagzi/server/testing";
import type { InProcessServer } from "./_transport.ts";

/** How often a waiting test environment looks at the database again, in ms. */
const POLL_MS = 5;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The virtual time of one test environment. */
export class TimeKeeper {
  /** Jump to the next timer while a result is awaited and nothing runs. */
  autoSkip: boolean;
  #awaiting = 0;
  #closed = false;
  #error: unknown;
  #wake?: () => void;
  readonly #loop: Promise<void>;

  constructor(
    private readonly test: TestServer,
    private readonly types: string[],
    autoSkip: boolean,
  ) {
    this.autoSkip = autoSkip;
    this.#loop = this.#autoSkipLoop();
  }

  /**
   * The server as the test's client sees it: a WaitRuns (`run.result()`), or a GetWorkflow
   * that waits for the run's end, counts as awaiting a result while it is in flight.
   */
  clientServer(): InProcessServer {
    const server = this.test.server;
    return {
      now: () => server.now(),
      fetch: async (req: Request) => {
        if (req.url.endsWith("/ReadStream")) return await this.#following(server.fetch(req));
        const waits = req.url.endsWith("/WaitRuns") ||
          (req.url.endsWith("/GetWorkflow") && await waitsForEnd(req));
        if (!waits) return await server.fetch(req);
        this.#awaiting++;
        this.#wake?.();
        try {
          return await server.fetch(req);
        } finally {
          this.#awaiting--;
        }
      },
    };
  }

  /**
   * A stream being followed (`handle.stream()`, ReadStream) waits for its run as a result does:
   * it counts as awaiting until its response body ends.
   */
  async #following(res: Promise<Response>): Promise<Response> {
    this.#awaiting++;
    this.#wake?.();
    let counted = true;
    const done = () => {
      if (counted) this.#awaiting--;
      counted = false;
    };
    try {
      const r = await res;
      if (!r.body) {
        done();
        return r;
      }
      const reader = r.body.getReader();
      // The body as it comes; its end, or a reader that stops early (a cancel), stops counting.
      const watched = new ReadableStream<Uint8Array>({
        pull: async (c) => {
          const { done: end, value } = await reader.read();
          if (end) {
            done();
            c.close();
          } else c.enqueue(value);
        },
        cancel: async (reason) => {
          done();
          await reader.cancel(reason);
        },
      });
      return new Response(watched, {
        status: r.status,
        statusText: r.statusText,
        headers: r.headers,
      });
    } catch (err) {
      done();
      throw err;
    }
  }

  /** Resolves once no run is running or due. */
  async settle(): Promise<void> {
    while (await this.test.busy(this.types)) await pause(POLL_MS);
  }

  /** Moves the clock `ms` forward, through each timer due in between (see `TestEnv.skipTime`). */
  async skip(ms: number): Promise<void> {
    await this.settle();
    // From the moment every run waits: what was started before the call has reached its waits.
    const target = this.test.now() + ms;
    for (;;) {
      const next = (await this.test.nextTimer())?.getTime();
      // 1 ms past the timer (deadlines are due once passed); always forward, so this ends.
      const to = next !== undefined && next + 1 < target && next + 1 > this.test.now()
        ? next + 1
        : target;
      if (await this.test.advanceTo(to, this.types)) {
        await this.settle();
        if (to >= target) return;
      } else {
        await this.settle();
      }
    }
  }

  async #autoSkipLoop(): Promise<void> {
    while (!this.#closed) {
      if (!this.autoSkip || this.#awaiting === 0) {
        await new Promise<void>((r) => (this.#wake = r));
        continue;
      }
      try {
        const next = await this.test.nextTimer();
        if (next && !(await this.test.busy(this.types))) {
          await this.test.advanceTo(next.getTime() + 1, this.types);
        }
      } catch (err) {
        if (this.#closed) return;
        this.#error ??= err; // surfaced by close()
      }
      await pause(POLL_MS);
    }
  }

  /** Stops auto-skip. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    if (this.#error) throw this.#error;
  }
}

/** Whether a GetWorkflow request asks to wait for the run's end. */
async function waitsForEnd(req: Request): Promise<boolean> {
  try {
    const body = new Uint8Array(await req.clone().arrayBuffer());
    const msg = fromBinary(GetWorkflowRequestSchema, body);
    return msg.waitForTerminal !== undefined;
  } catch {
    return false; // JSON or a malformed body: the server answers it
  }
}
