/**
 * The result wait of the SDK before WaitRuns, kept for the benchmark's A/B row: one GetWorkflow
 * long poll per run (30 s at a time) until it ends; returns its output. Over Connect to a URL,
 * or to a server in this process.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { WorkflowService, WorkflowStatus } from "@kagzi/proto";

export function getEach(
  server: string | { fetch(req: Request): Promise<Response> },
): (runId: string) => Promise<unknown> {
  const transport = typeof server === "string"
    ? createConnectTransport({ baseUrl: server, useBinaryFormat: true })
    : createConnectTransport({
      baseUrl: "http://in-process.kagzi",
      useBinaryFormat: true,
      fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
        server.fetch(new Request(input, init))) as typeof fetch,
    });
  const client = createClient(WorkflowService, transport);
  return async (runId) => {
    for (;;) {
      const { workflow } = await client.getWorkflow({
        namespace: "default",
        runId,
        waitForTerminal: durationFromMs(30_000),
      }, { timeoutMs: 40_000 });
      if (workflow!.status === WorkflowStatus.COMPLETED) {
        return JSON.parse(new TextDecoder().decode(workflow!.output!.data));
      }
      if (
        workflow!.status === WorkflowStatus.FAILED || workflow!.status === WorkflowStatus.CANCELLED
      ) {
        throw new Error(`run ${runId} ended ${WorkflowStatus[workflow!.status]}`);
      }
    }
  };
}
