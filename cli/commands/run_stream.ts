/** `kagzi run stream <run> <name>`: follows a run's stream (`ctx.stream(name)`) live. */
import { type Command, int } from "../_command.ts";
import { Exit } from "../_errors.ts";
import { resolveRun } from "./_runs.ts";

/** `run stream <run> <name> [--from N]`. */
export const streamCommand: Command = {
  name: "stream",
  args: "<run> <name>",
  summary: "Follow a run's stream live: each value as it is written, until the stream closes",
  details: "Prints one line per value: its offset and its JSON (table), or\n" +
    '{"offset":N,"value":…} (json, jsonl). Ends when the run closes the stream or ends;\n' +
    "Ctrl-C stops earlier. A dropped connection or a server restart is waited out and the\n" +
    "stream goes on from the next offset. --from N starts at offset N (0: the whole stream).",
  flags: {
    from: { type: "string", value: "N", help: "the first offset to print (default 0)" },
  },
  min: 2,
  max: 2,
  async run(rt, v, [id, name]) {
    const from = int(v, "from", 0, Number.MAX_SAFE_INTEGER, 0);
    const client = await rt.client();
    const { id: runId } = await resolveRun(client, id, rt.namespace);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    Deno.addSignalListener("SIGINT", onSignal);
    try {
      for await (const e of client.handle(runId).stream(name, { from, signal: stop.signal })) {
        rt.out.event(`${e.offset}\t${JSON.stringify(e.value)}`, e);
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
    }
    return Exit.ok;
  },
};
