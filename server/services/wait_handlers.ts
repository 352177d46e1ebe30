/** WorkerService handlers for durable waits: ReceiveSignal and StartChild. */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { WorkerService } from "@kagzi/proto";
import type { ServiceContext } from "./_context.ts";

type WaitHandlers = Pick<ServiceImpl<typeof WorkerService>, "receiveSignal" | "startChild">;

/** The signal and child-workflow handlers of WorkerService. */
export function waitHandlers(_ctx: ServiceContext): WaitHandlers {
  return {
    receiveSignal() {
      throw new ConnectError("ReceiveSignal is not implemented yet", Code.Unimplemented);
    },
    startChild() {
      throw new ConnectError("StartChild is not implemented yet", Code.Unimplemented);
    },
  };
}
