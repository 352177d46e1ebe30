/** The StartWorkflow builder. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Call } from "../_call.ts";
import { encodeJson } from "../_payload.ts";
import { traceStart } from "../_tracing.ts";
import type { Services } from "./_services.ts";
import { makeRun, type WorkflowRun } from "./runs.ts";

/** Builder of a StartWorkflow request; await it for a {@linkcode WorkflowRun}. */
export class StartCall<T = unknown, I = unknown> extends Call<WorkflowRun<T>> {
  #input: unknown;
  #signal?: { name: string; payload: unknown; idempotencyKey: string };
  #id = "";
  #version = "";
  #deadline?: Date;
  #context: unknown;

  /** @internal */
  constructor(
    private readonly services: Services,
    private readonly type: string,
    namespace: string,
  ) {
    super(namespace);
  }

  /** The input handed to the workflow function (a value that round-trips through JSON; see the README). */
  input(value: I): this {
    this.#input = value;
    return this;
  }
  /** The idempotency key: starting the same id again returns the live run. */
  id(workflowId: string): this {
    this.#id = workflowId;
    return this;
  }
  /** The version of the workflow type to run. */
  version(v: string): this {
    this.#version = v;
    return this;
  }
  /** The run fails with TIMEOUT if it has not ended by then. */
  deadline(at: Date): this {
    this.#deadline = at;
    return this;
  }
  /** Extra context stored with the run (a value that round-trips through JSON). */
  context(value: unknown): this {
    this.#context = value;
    return this;
  }

  /**
   * Signal-with-start: atomically starts the run and stores signal `name` for it, or, when an
   * open run holds this workflow id, delivers the signal to that run (`alreadyExists` true).
   */
  signal(name: string, payload?: unknown, options: { idempotencyKey?: string } = {}): this {
    this.#signal = { name, payload, idempotencyKey: options.idempotencyKey ?? "" };
    return this;
  }

  /** Sends the request (in a `kagzi.start <type>` span whose trace the run continues). */
  protected async execute(): Promise<WorkflowRun<T>> {
    const res = await traceStart(
      this.type,
      this.ns,
      (traceparent) =>
        this.services.workflows.startWorkflow({
          namespace: this.ns,
          workflowType: this.type,
          workflowId: this.#id,
          version: this.#version,
          input: encodeJson(this.#input, "input"),
          context: this.#context === undefined ? undefined : encodeJson(this.#context, "context"),
          deadlineAt: this.#deadline ? timestampFromDate(this.#deadline) : undefined,
          signal: this.#signal && {
            name: this.#signal.name,
            payload: this.#signal.payload === undefined
              ? undefined
              : encodeJson(this.#signal.payload, `signal "${this.#signal.name}"`),
            idempotencyKey: this.#signal.idempotencyKey,
          },
          traceparent,
        }),
      (r) => ({ "kagzi.run_id": r.runId, "kagzi.already_exists": r.alreadyExists }),
    );
    return makeRun<T>(
      this.services,
      this.ns,
      res.runId,
      res.workflowId,
      res.alreadyExists,
      res.warning,
    );
  }
}
