/**
 * A second client process for handle tests: `deno run -A tests/_attach_main.ts <addr> run <id>`
 * or `… workflow <workflowId>`. It attaches with `client.handle()`, prints the status it reads,
 * signals "go" when the run waits for it, awaits the result and prints it with the step names.
 */
import { Kagzi } from "@kagzi/sdk";

const [addr, kind, value] = Deno.args;
const client = await Kagzi.connect(addr);
const h = client.handle<{ by: string }>(kind === "run" ? value : { workflowId: value });
console.log(`attached ${JSON.stringify({ status: (await h.get()).status })}`);
if (Deno.env.get("KAGZI_TEST_SIGNAL")) await h.signal("go", { by: "second process" });
const result = await h.result({ timeout: "60s" });
const steps = (await h.steps()).map((s) => s.name);
console.log(`done ${JSON.stringify({ result, steps, runId: (await h.get()).id })}`);
