/** Cron expressions (5 fields, 6 with seconds, or macros such as "@hourly") in an IANA time zone. */
import { Cron } from "croner";

/** A parsed schedule. */
export interface CronSchedule {
  /** The first fire time strictly after `after`, or undefined when there is none. */
  next(after: Date): Date | undefined;
}

/** Why an expression or time zone was refused. */
export class CronError extends Error {
  constructor(readonly field: "cron" | "timezone", message: string) {
    super(message);
    this.name = "CronError";
  }
}

/** Parses `expression` in `timezone` (empty is UTC); throws CronError naming the bad part. */
export function parseCron(expression: string, timezone: string): CronSchedule {
  if (timezone !== "") {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      throw new CronError(
        "timezone",
        `"timezone" ${JSON.stringify(timezone)} is not an IANA time zone`,
      );
    }
  }
  let cron: Cron;
  try {
    cron = new Cron(expression.trim(), { paused: true, timezone: timezone || "UTC" });
  } catch (err) {
    throw new CronError(
      "cron",
      `"cron" ${JSON.stringify(expression)} is not a valid cron expression: ${
        (err as Error).message
      }`,
    );
  }
  if (!cron.nextRun(new Date())) {
    throw new CronError("cron", `"cron" ${JSON.stringify(expression)} never fires`);
  }
  return { next: (after) => cron.nextRun(after) ?? undefined };
}

/**
 * The fire times from `first` (inclusive, itself a fire time) up to `now`, at most
 * `limit` of the most recent, oldest first; and the next fire time after `now`.
 */
export function dueTimes(
  schedule: CronSchedule,
  first: Date,
  now: Date,
  limit: number,
): { due: Date[]; next: Date | undefined } {
  const due: Date[] = [];
  let t: Date | undefined = first;
  // Bounded walk: a schedule down for years at one fire per second is not replayed in full.
  for (let i = 0; t && t <= now && i < 100_000; i++) {
    due.push(t);
    if (due.length > limit) due.shift();
    t = schedule.next(t);
  }
  while (t && t <= now) t = schedule.next(now);
  return { due, next: t };
}
