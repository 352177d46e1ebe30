/**
 * The testing kit: `TestEnv.create({ workflows })` runs the real Kagzi server in this process
 * on an in-memory embedded database (PGlite), with a worker and a client wired to it and a
 * virtual clock, so a workflow that sleeps for 30 days is tested in well under a second.
 *
 * What is virtual: engine time only. Due times of durable sleeps, signal timeouts, step retry
 * backoffs, run deadlines and cron schedules, the database's `now()` and the times stored on
 * runs and steps all read the virtual clock: the real time plus an offset that moves only
 * forward, by `skipTime`, or by auto-skip. Everything else is real: the store, claims, leases,
 * fencing, the request checks, and the time your own code spends (step functions, `setTimeout`,
 * `Date.now()` inside a step, `result({ timeout })`).
 *
 * @example Test a workflow that waits three days
 * ```ts ignore
 * import { TestEnv } from "@kagzi/sdk/testing";
 *
 * Deno.test("an order ships", async () => {
 *   await using env = await TestEnv.create({ workflows: { "process-order": processOrder } });
 *   const run = await env.client.start("process-order").input({ id: "o-1" });
 *   await env.skipTime("3 days");
 *   env.mockStep("charge-card", () => ({ transactionId: "tx-1" }));
 *   console.log(await run.result());
 * });
 * ```
 *
 * @module
 */
import { createTestServer, type TestServer } from "@kagzi/server/testing";
import type { ServerConfig } from "@kagzi/server/mod";
import { Kagzi } from "./client/kagzi.ts";
import type { StepFn, WorkflowFn } from "./context.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { KagziError } from "./errors.ts";
import { Worker } from "./worker.ts";
import type { AnyWorkflowDefinition } from "./workflow_def.ts";
import { type StepMocks, withMocks } from "./_testing_mock.ts";
import { TimeKeeper } from "./_testing_time.ts";

/** Options of {@linkcode TestEnv.create}. */
export interface TestEnvOptions {
  /** The workflows the environment's worker runs: a map of type to function, or definitions. */
  workflows: Record<string, WorkflowFn> | readonly AnyWorkflowDefinition[];
  /**
   * While the test awaits a run's result (`run.result()`) and no run is running or due, jump
   * the clock to the next timer (a sleep, signal timeout, retry backoff, deadline or schedule).
   * Time never moves while the test's own code runs between awaits. @default true
   */
  autoSkip?: boolean;
  /** The namespace of the worker and the client. @default "default" */
  namespace?: string;
  /** Server settings over the defaults (log level "error", retention off). @default {} */
  server?: Partial<ServerConfig>;
}

/** The real server in process on an in-memory database with a virtual clock, a worker and a client. */
export class TestEnv implements AsyncDisposable {
  /** A client of the environment's server. */
  readonly client: Kagzi;
  /** The worker running the environment's workflows. */
  readonly worker: Worker;
  readonly #test: TestServer;
  readonly #time: TimeKeeper;
  readonly #mocks: StepMocks;
  readonly #running: Promise<void>;
  #closed?: Promise<void>;

  private constructor(
    test: TestServer,
    time: TimeKeeper,
    client: Kagzi,
    worker: Worker,
    mocks: StepMocks,
  ) {
    this.#test = test;
    this.#time = time;
    this.client = client;
    this.worker = worker;
    this.#mocks = mocks;
    this.#running = worker.run();
  }

  /** Starts the server, the worker and the client; dispose of it (`await using`) when done. */
  static async create(options: TestEnvOptions): Promise<TestEnv> {
    const mocks: StepMocks = new Map();
    const workflows = Array.isArray(options.workflows)
      ? (options.workflows as readonly AnyWorkflowDefinition[]).map((d) => [d.type, d.fn] as const)
      : Object.entries(options.workflows as Record<string, WorkflowFn>);
    if (workflows.length === 0) {
      throw new KagziError("INVALID_ARGUMENT", "TestEnv.create: register at least one workflow", {
        subject: "workflows",
        nonRetryable: true,
      });
    }
    const namespace = options.namespace ?? "default";
    const test = await createTestServer({ config: options.server });
    let time: TimeKeeper | undefined;
    try {
      time = new TimeKeeper(test, workflows.map(([type]) => type), options.autoSkip ?? true);
      const builder = Worker.builder(test.server).namespace(namespace).shutdownTimeout("1s");
      for (const [type, fn] of workflows) builder.workflow(type, withMocks(fn, mocks));
      const worker = await builder.build();
      const client = await Kagzi.connect(time.clientServer(), { namespace });
      return new TestEnv(test, time, client, worker, mocks);
    } catch (err) {
      await time?.close().catch(() => {});
      await test.close();
      throw err;
    }
  }

  /** Whether auto-skip is on (see {@linkcode TestEnvOptions.autoSkip}); it may be switched. */
  get autoSkip(): boolean {
    return this.#time.autoSkip;
  }
  set autoSkip(on: boolean) {
    this.#time.autoSkip = on;
  }

  /** The virtual time. */
  now(): Date {
    return new Date(this.#test.now());
  }

  /**
   * Moves the virtual clock `duration` forward. Waits until no run is running or due, then
   * walks through each timer due in the window in order (durable sleeps, signal timeouts, retry
   * backoffs, deadlines, schedules), letting the runs it wakes run until they wait again, and
   * resolves at the window's end with every run waiting or ended.
   */
  async skipTime(duration: Duration): Promise<void> {
    await this.#time.skip(parseDuration(duration, "duration"));
  }

  /** Resolves once no run is running or due (every run waits or has ended). */
  async settle(): Promise<void> {
    await this.#time.settle();
  }

  /**
   * Replaces the function of step `name` in every workflow of this environment, for the
   * attempts that start from now on. The step is still stored, retried and replayed as usual.
   */
  mockStep<T>(name: string, fn: StepFn<T>): void {
    this.#mocks.set(name, fn as StepFn<unknown>);
  }

  /** Stops the worker, the server and the database. */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      try {
        await this.#time.close();
      } finally {
        await this.worker.shutdown().catch(() => {});
        await this.#running.catch(() => {});
        await this.#test.close();
      }
    })();
  }

  /** Same as {@linkcode TestEnv.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
