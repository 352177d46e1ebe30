/**
 * WaitRuns: one long poll over many runs, answered as soon as one of them ends (with those that
 * end with it). Every `result()` awaited through one client shares such calls instead of a
 * GetWorkflow each: one request and one batched read per batch of runs, not per run.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type RunOutcome,
  RunOutcomeSchema,
  WaitRunsResponseSchema,
  type WorkflowService,
  WorkflowStatus,
} from "@kagzi/proto";
import { toErrorDetail } from "../errors.ts";
import { doneTopic, type RunEnded } from "../engine/notify.ts";
import * as runs from "../store/runs.ts";
import type { ServiceContext } from "./_context.ts";
import { errorFromJson, isTerminal, payloadOf, statusToProto } from "./_convert.ts";
import { runNotFound } from "./_not_found.ts";
import { rereadMs } from "./_open_runs.ts";
import { durationMs } from "./_time.ts";
import * as v from "./_validate.ts";

/** The most run ids one WaitRuns names. */
export const maxWaitRuns = 1000;
/**
 * Once one run ended, how long the answer waits for others to end with it (runs completed by
 * one Report are published one after another): 2 ms, plus 1 ms for every 25 runs still open,
 * up to 20 ms. Every answer makes the client ask again for the runs still open (a read of each
 * and a request): with 2,000 results awaited, answering at the first end cost the server half
 * as much CPU again per workflow as the workflow itself. A lone wait answers at once.
 */
const lingerMs = (open: number) => Math.min(20, 2 + Math.floor(open / 25));

/** The WaitRuns handler of WorkflowService. */
export function waitRunsHandler(
  ctx: ServiceContext,
): Pick<ServiceImpl<typeof WorkflowService>, "waitRuns"> {
  const { db, notifier } = ctx;
  const log = (msg: string, err: unknown) => ctx.log.error(`WaitRuns: ${msg}`, err);
  const openRuns = ctx.openRuns;
  return {
    async waitRuns(req, call) {
      const op = "wait for runs";
      const namespaceId = v.namespace(op, req.namespace);
      v.batchSize(op, "run_ids", req.runIds.length, maxWaitRuns, 1);
      const waitMs = Math.min(
        durationMs(op, "timeout", req.timeout) ?? ctx.config.maxWaitMs,
        ctx.config.maxWaitMs,
      );
      const until = Date.now() + waitMs;
      const answer: RunOutcome[] = [];
      // The ids as sent (a UUID in capitals is answered as it was asked), by the stored id.
      const asked = new Map<string, string[]>();
      for (const raw of req.runIds) {
        let id: string;
        try {
          id = v.runId(op, raw);
        } catch (err) {
          // A malformed id fails alone: the others in the batch are someone else's results.
          answer.push(create(RunOutcomeSchema, { runId: raw, error: toErrorDetail(err, log) }));
          continue;
        }
        asked.set(id, [...asked.get(id) ?? [], raw]);
      }
      const open = new Set(asked.keys());
      const settle = (
        id: string,
        outcome: Pick<RunOutcome, "status"> & Partial<Pick<RunOutcome, "output" | "error">>,
      ) => {
        if (!open.delete(id)) return;
        for (const runId of asked.get(id)!) {
          answer.push(create(RunOutcomeSchema, { ...outcome, runId }));
        }
      };
      const fromRows = (rows: runs.RunEnd[]) => {
        for (const r of rows) {
          if (!isTerminal(r.status)) continue;
          settle(r.run_id, {
            status: statusToProto(r.status),
            output: payloadOf(r.output_data, r.output_metadata),
            error: errorFromJson(r.error),
          });
        }
      };
      // Ends published here while waiting; the detail of a completion carries its output.
      const fired = new Map<string, RunEnded | undefined>();
      let wake: (() => void) | undefined;
      let lingerWake: (() => void) | undefined;
      const byTopic = new Map([...open].map((id) => [doneTopic(namespaceId, id), id]));
      // Subscribed before reading, so an end in between is not missed.
      const unwatch = notifier.watch([...byTopic.keys()], (topic, detail) => {
        fired.set(byTopic.get(topic)!, detail as RunEnded | undefined);
        wake?.();
        // Every run still open ended: the linger has nothing left to wait for.
        if (fired.size >= open.size) lingerWake?.();
      });
      /** Waits `ms`; an end cuts it short only when `wakeable` (the linger waits its time). */
      const sleep = (ms: number, wakeable = true) =>
        new Promise<boolean>((resolve) => {
          const done = (woken: boolean) => {
            clearTimeout(timer);
            call.signal.removeEventListener("abort", onAbort);
            wake = lingerWake = undefined;
            resolve(woken);
          };
          const onAbort = () => done(false);
          const timer = setTimeout(() => done(false), Math.max(0, ms));
          if (wakeable) wake = () => done(true);
          else lingerWake = () => done(true);
          call.signal.addEventListener("abort", onAbort);
        });
      try {
        let readAll = open.size > 0;
        // The first read trusts the open marks (`_open_runs.ts`); the periodic re-read does not.
        let trustKnown = true;
        let lingered = false;
        for (;;) {
          if (readAll) {
            const now = Date.now();
            const ids = trustKnown
              ? [...open].filter((id) => !openRuns.knownOpen(namespaceId, id, now))
              : [...open];
            const rows = ids.length ? await runs.getRunEnds(db, namespaceId, ids) : [];
            const found = new Set(rows.map((r) => r.run_id));
            for (const id of ids) {
              if (!found.has(id)) {
                settle(id, {
                  status: WorkflowStatus.UNSPECIFIED,
                  error: toErrorDetail(runNotFound(namespaceId, id), log),
                });
              }
            }
            fromRows(rows);
            readAll = trustKnown = false;
            // Open as of now; an end from here on deletes the mark (those that ended since the
            // subscription are in `fired`, and not marked).
            for (const id of ids) {
              if (open.has(id) && !fired.has(id)) openRuns.mark(namespaceId, id, now);
            }
          }
          // What ended meanwhile: a completion here says its output; others are read.
          const unread: string[] = [];
          for (const [id, detail] of fired) {
            if (!open.has(id)) continue;
            if (detail) {
              settle(id, {
                status: WorkflowStatus.COMPLETED,
                output: payloadOf(detail.output, detail.outputMetadata),
              });
            } else unread.push(id);
          }
          fired.clear();
          if (unread.length) fromRows(await runs.getRunEnds(db, namespaceId, unread));
          const left = until - Date.now();
          if (open.size === 0 || left <= 0 || call.signal.aborted) break;
          if (answer.length) {
            // Let the runs ending with these join the answer (once), then answer.
            if (lingered) break;
            lingered = true;
            await sleep(lingerMs(open.size), false);
            continue;
          }
          if (!(await sleep(Math.min(left, rereadMs))) && Date.now() < until) readAll = true;
        }
      } finally {
        unwatch();
      }
      return create(WaitRunsResponseSchema, { ended: answer });
    },
  };
}
