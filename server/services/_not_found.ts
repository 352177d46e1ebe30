/** The "not found" errors of the services, one wording each. */
import { NotFoundError } from "../errors.ts";

/** A run that does not exist in the namespace. */
export function runNotFound(namespaceId: string, runId: string): NotFoundError {
  return new NotFoundError(
    "run",
    runId,
    `Run "${runId}" was not found in namespace "${namespaceId}"`,
  );
}

/** A schedule that does not exist in the namespace. */
export function scheduleNotFound(namespaceId: string, scheduleId: string): NotFoundError {
  return new NotFoundError(
    "schedule",
    scheduleId,
    `Schedule "${scheduleId}" was not found in namespace "${namespaceId}"`,
  );
}

/** A worker calling under an id the namespace does not know (or no longer: it must register). */
export function workerNotRegistered(namespaceId: string, workerId: string): NotFoundError {
  return new NotFoundError(
    "worker",
    workerId,
    `Worker "${workerId}" is not registered in namespace "${namespaceId}"; register again`,
  );
}

/** A worker that does not exist in the namespace (an operator's lookup). */
export function workerNotFound(namespaceId: string, workerId: string): NotFoundError {
  return new NotFoundError(
    "worker",
    workerId,
    `Worker "${workerId}" was not found in namespace "${namespaceId}"`,
  );
}
