/** WorkflowService handler RetryWorkflow: a new run from a finished one. */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { WorkflowService } from "@kagzi/proto";
import type { ServiceContext } from "./_context.ts";

type RetryHandlers = Pick<ServiceImpl<typeof WorkflowService>, "retryWorkflow">;

/** The RetryWorkflow handler of WorkflowService. */
export function retryHandlers(_ctx: ServiceContext): RetryHandlers {
  return {
    retryWorkflow() {
      throw new ConnectError("RetryWorkflow is not implemented yet", Code.Unimplemented);
    },
  };
}
