/** WorkflowService handlers for signals: SignalWorkflow, ListSignals. */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { WorkflowService } from "@kagzi/proto";
import type { ServiceContext } from "./_context.ts";

type SignalHandlers = Pick<
  ServiceImpl<typeof WorkflowService>,
  "signalWorkflow" | "listSignals"
>;

/** The signal handlers of WorkflowService. */
export function signalHandlers(_ctx: ServiceContext): SignalHandlers {
  return {
    signalWorkflow() {
      throw new ConnectError("SignalWorkflow is not implemented yet", Code.Unimplemented);
    },
    listSignals() {
      throw new ConnectError("ListSignals is not implemented yet", Code.Unimplemented);
    },
  };
}
