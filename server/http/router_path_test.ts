import assert from "node:assert/strict";
import { pathOf } from "./router.ts";

Deno.test("pathOf: a request URL's path, as new URL(url).pathname reads it", () => {
  for (
    const url of [
      "http://127.0.0.1:7070/kagzi.v1.WorkflowService/StartWorkflow",
      "http://in-process.kagzi/kagzi.v1.WorkerService/Report",
      "https://kagzi.example.com/v1/hooks/abc?x=1#frag",
      "http://[::1]:8080/metrics",
      "http://localhost:7070/",
      "http://localhost:7070/ui/runs?status=FAILED",
      "http://localhost:7070/v1/streams/run%201/out#x",
    ]
  ) assert.equal(pathOf(url), new URL(url).pathname, url);
  assert.equal(pathOf("http://localhost:7070"), "/");
});
