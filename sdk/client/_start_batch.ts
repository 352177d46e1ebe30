/**
 * The starts of one client, sent together: starts made at the same moment travel in one
 * StartWorkflows per namespace (up to 100 small ones), each answered as its own StartWorkflow
 * would be, error and all. A start alone, or one carrying a large payload, goes as its own
 * StartWorkflow; a server without StartWorkflows gets single calls from then on. A call that
 * fails as a whole fails each of its starts, and each start's builder retries it as before.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { StartWorkflowRequestSchema, StartWorkflowResponse } from "@kagzi/proto";
import { ItemError, MicroBatcher } from "../batcher.ts";
import { KagziError } from "../errors.ts";
import type { Services } from "./_services.ts";

/** A start request as the builder makes it. */
export type StartRequest = MessageInitShape<typeof StartWorkflowRequestSchema> & {
  namespace: string;
};

/** The most starts in one StartWorkflows (the server takes up to 1,000). */
const maxItems = 100;
/**
 * A start carrying more payload than this goes alone, so a batch stays far below the server's
 * request limit (8 MiB) whatever its starts carry.
 */
const maxItemPayloadBytes = 32 * 1024;
/** StartWorkflows in flight at once; starts made meanwhile form the next. */
const maxInFlight = 4;

/** The starts of one client (one per `Services`). */
export class StartBatches {
  readonly #batcher = new MicroBatcher<StartRequest, StartWorkflowResponse>(
    (batch) => this.#send(batch),
    { maxBatch: maxItems, maxInFlight, splitFailedBatch: false },
  );
  /** False once the server answered that it has no StartWorkflows (an older server). */
  #supported = true;

  constructor(private readonly services: Services) {}

  /** Sends `req`, together with the other starts made at the same moment when it is small. */
  start(req: StartRequest): Promise<StartWorkflowResponse> {
    if (!this.#supported || payloadBytes(req) > maxItemPayloadBytes) return this.#single(req);
    return this.#batcher.add(req);
  }

  #single(req: StartRequest): Promise<StartWorkflowResponse> {
    return this.services.workflows.startWorkflow(req);
  }

  async #send(batch: StartRequest[]): Promise<(StartWorkflowResponse | ItemError)[]> {
    const byNamespace = new Map<string, number[]>();
    batch.forEach((req, i) => {
      const group = byNamespace.get(req.namespace);
      if (group) group.push(i);
      else byNamespace.set(req.namespace, [i]);
    });
    const out: (StartWorkflowResponse | ItemError)[] = new Array(batch.length);
    await Promise.all([...byNamespace].map(async ([namespace, indexes]) => {
      const answers = await this.#sendGroup(namespace, indexes.map((i) => batch[i]));
      indexes.forEach((i, k) => out[i] = answers[k]);
    }));
    return out;
  }

  async #sendGroup(
    namespace: string,
    reqs: StartRequest[],
  ): Promise<(StartWorkflowResponse | ItemError)[]> {
    if (reqs.length === 1 || !this.#supported) {
      return await Promise.all(reqs.map((r) => this.#single(r).catch((e) => new ItemError(e))));
    }
    try {
      const { results } = await this.services.workflows.startWorkflows({ namespace, items: reqs });
      return reqs.map((_, i) => {
        const r = results[i]?.result;
        if (r?.case === "started") return r.value;
        if (r?.case === "error") return new ItemError(KagziError.fromDetail(r.value));
        return new ItemError(
          new KagziError("INTERNAL", `The server answered start ${i} of ${reqs.length} wrongly`),
        );
      });
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        this.#supported = false;
        return this.#sendGroup(namespace, reqs);
      }
      // Every start of the call fails alike; its builder retries it while the server is away.
      return reqs.map(() => new ItemError(err));
    }
  }
}

/** About the bytes a start carries in payloads and tags. */
function payloadBytes(req: StartRequest): number {
  let n = (req.input?.data?.length ?? 0) + (req.context?.data?.length ?? 0) +
    (req.signal?.payload?.data?.length ?? 0);
  for (const [k, v] of Object.entries(req.tags ?? {})) n += 4 * (k.length + v.length);
  return n;
}

const perClient = new WeakMap<Services, StartBatches>();

/** The start batches of the client whose services these are. */
export function startBatches(services: Services): StartBatches {
  let b = perClient.get(services);
  if (!b) perClient.set(services, b = new StartBatches(services));
  return b;
}
