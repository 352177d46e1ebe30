/**
 * Runs this server knows to be open, by done topic, with since when: a start marks its run just
 * before inserting it, and a WaitRuns marks those it read and found open. A WaitRuns naming a
 * run marked within {@linkcode rereadMs} reads it only if its end was published meanwhile (any
 * published end, here or by NOTIFY from another server, removes the mark; a lost LISTEN session
 * forgets every mark). So `(await client.start(…)).result()` costs no read of the run, and the
 * client asking again for the runs still open after every answer costs none either. What no
 * server publishes (a child cancelled by the database's trigger) is read again after 5 s.
 */
import { doneTopic, type Notifier } from "../engine/notify.ts";

/** How long a mark is trusted; an older one is read again. */
export const rereadMs = 5_000;
/** Marks kept at most; past this all are forgotten (and read again). */
const maxMarks = 100_000;

/** The marks, cleared by the ends the notifier hears of. */
export class OpenRuns {
  readonly #marks = new Map<string, number>();

  constructor(notifier: Notifier) {
    notifier.watchDone((topic) =>
      topic === undefined ? this.#marks.clear() : this.#marks.delete(topic)
    );
  }

  /** Run `runId` is open as of `at` (ms): nothing ended it before now. */
  mark(namespaceId: string, runId: string, at = Date.now()): void {
    if (this.#marks.size >= maxMarks) this.#marks.clear();
    this.#marks.set(doneTopic(namespaceId, runId), at);
  }

  /** Drops the mark (a start that stored no run). */
  forget(namespaceId: string, runId: string): void {
    this.#marks.delete(doneTopic(namespaceId, runId));
  }

  /** Whether run `runId` was marked open within the last {@linkcode rereadMs}. */
  knownOpen(namespaceId: string, runId: string, now = Date.now()): boolean {
    return (this.#marks.get(doneTopic(namespaceId, runId)) ?? -Infinity) > now - rereadMs;
  }
}
