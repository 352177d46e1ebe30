/** The StartWorkflow builder. */
import { priorityOf } from "../flow_control.ts";
import { OnDuplicate as WireOnDuplicate } from "@kagzi/proto";
import { Call } from "../_call.ts";
import { encodeJson } from "../_payload.ts";
import { timestampOf } from "../_timestamp.ts";
import { traceStart } from "../_tracing.ts";
import { retryUnavailable } from "../_backoff.ts";
import { autoIdempotencyKey } from "./signals.ts";
import type { Services } from "./_services.ts";
import { makeRun, type WorkflowRun } from "./runs.ts";
import { startBatches } from "./_start_batch.ts";

/**
 * What a start with a workflow id does when a run under that id is retained (open, or ended
 * and not yet deleted by retention): `"return-existing"` returns the newest such run
 * (`alreadyExists: true`); `"allow-after-failure"` starts anew when it FAILED or was
 * CANCELLED; `"allow-after-end"` starts anew when it ended at all; `"fail"` rejects with
 * CONFLICT naming it. An open run is never started past.
 */
export type OnDuplicate = "return-existing" | "allow-after-failure" | "allow-after-end" | "fail";

const wireOnDuplicate: Record<OnDuplicate, WireOnDuplicate> = {
  "return-existing": WireOnDuplicate.RETURN_EXISTING,
  "allow-after-failure": WireOnDuplicate.ALLOW_AFTER_FAILURE,
  "allow-after-end": WireOnDuplicate.ALLOW_AFTER_END,
  "fail": WireOnDuplicate.FAIL,
};

/** Builder of a StartWorkflow request; await it for a {@linkcode WorkflowRun}. */
export class StartCall<T = unknown, I = unknown> extends Call<WorkflowRun<T>> {
  #input: unknown;
  #signal?: { name: string; payload: unknown; idempotencyKey: string };
  #id = "";
  #version = "";
  #deadline?: Date;
  #context: unknown;
  #onDuplicate: OnDuplicate = "return-existing";
  #tags: Record<string, string> = {};
  #priority: number | undefined;

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
  /**
   * The idempotency key: starting the same id again returns its run, open or ended, for as long
   * as that run is retained (see {@linkcode StartCall.onDuplicate}). Without one, the SDK makes
   * one up (a UUID) before the first attempt, so a retried start cannot start twice.
   */
  id(workflowId: string): this {
    this.#id = workflowId;
    return this;
  }
  /** What to do when a run under the workflow id is retained. @default "return-existing" */
  onDuplicate(mode: OnDuplicate): this {
    if (!(mode in wireOnDuplicate)) {
      throw new TypeError(
        `onDuplicate must be "return-existing", "allow-after-failure", "allow-after-end" or "fail", not ${
          JSON.stringify(mode)
        }`,
      );
    }
    this.#onDuplicate = mode;
    return this;
  }
  /**
   * Searchable attributes of the run (`client.list().tag(key, value)` finds it); merged with
   * earlier calls. At most 32; keys 1-64 and values up to 256 characters.
   */
  tags(tags: Record<string, string>): this {
    this.#tags = { ...this.#tags, ...tags };
    return this;
  }
  /**
   * The run's priority (a whole number from -1000000 to 1000000): higher is claimed first, FIFO
   * within one priority. @default the type's registered priority, else 0
   */
  priority(n: number): this {
    this.#priority = priorityOf(n);
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

  /**
   * Sends the request (in a `kagzi.start <type>` span whose trace the run continues). While
   * the server answers UNAVAILABLE it is sent again (within the client's `retryTimeout`) with
   * the same workflow id; with a generated id, a run found under it is this call's own.
   */
  protected async execute(): Promise<WorkflowRun<T>> {
    // Generated before the first attempt: a start retried after a lost answer finds its run.
    const generated = this.#id === "";
    const workflowId = generated ? crypto.randomUUID() : this.#id;
    const signalKey = this.#signal && (this.#signal.idempotencyKey || autoIdempotencyKey());
    const send = (traceparent: string) =>
      startBatches(this.services).start({
        namespace: this.ns,
        workflowType: this.type,
        workflowId,
        version: this.#version,
        input: encodeJson(this.#input, "input"),
        context: this.#context === undefined ? undefined : encodeJson(this.#context, "context"),
        deadlineAt: this.#deadline &&
          timestampOf(this.#deadline, "deadline", `Cannot start workflow "${this.type}"`),
        signal: this.#signal && {
          name: this.#signal.name,
          payload: this.#signal.payload === undefined
            ? undefined
            : encodeJson(this.#signal.payload, `signal "${this.#signal.name}"`),
          idempotencyKey: signalKey,
        },
        traceparent,
        onDuplicate: wireOnDuplicate[this.#onDuplicate],
        tags: this.#tags,
        priority: this.#priority,
      });
    // A run under a generated id can only be this call's (it may have ended meanwhile).
    const earlier = async () => {
      const found = await this.services.workflows.listWorkflows({
        namespace: this.ns,
        workflowId,
        page: { pageSize: 1 },
      });
      const w = found.workflows[0];
      return w && { runId: w.runId, workflowId: w.workflowId, alreadyExists: false };
    };
    let attempt = 0;
    const res = await traceStart(
      this.type,
      this.ns,
      (traceparent) =>
        retryUnavailable(async () => {
          if (attempt++ > 0 && generated) {
            const found = await earlier();
            if (found) return found;
          }
          return await send(traceparent);
        }, { until: Date.now() + this.services.retryTimeoutMs }),
      (r) => ({ "kagzi.run_id": r.runId, "kagzi.already_exists": r.alreadyExists }),
    );
    // Nobody else knows a generated id: a run found under it is this call's.
    const alreadyExists = !generated && res.alreadyExists;
    const warning = "warning" in res ? String(res.warning) : "";
    const debounced = "debounced" in res && res.debounced === true;
    return makeRun<T>(
      this.services,
      this.ns,
      res.runId,
      res.workflowId,
      alreadyExists,
      warning,
      debounced,
    );
  }
}
