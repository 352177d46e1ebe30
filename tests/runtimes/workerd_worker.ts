/**
 * A Cloudflare Worker (module syntax) that drives a Kagzi server through `@kagzi/sdk/client`:
 * `GET /?server=<url>&type=<workflow type>` starts a run, reads it, awaits its result and answers
 * with what it saw. Bundled for workerd by `tests/runtimes_test.ts`.
 */
import { Kagzi, KagziError } from "@kagzi/sdk/client";

export default {
  async fetch(req: Request): Promise<Response> {
    const params = new URL(req.url).searchParams;
    try {
      const client = await Kagzi.connect(params.get("server") ?? "");
      const run = await client.start(params.get("type") ?? "").input({ stepMs: 0 });
      const started = await client.get(run.id);
      const output = await run.result({ timeout: "30s" });
      const ended = await client.get(run.id);
      return Response.json({
        ok: true,
        userAgent: navigator.userAgent,
        id: run.id,
        startedStatus: started.status,
        status: ended.status,
        output,
      });
    } catch (err) {
      const e = err instanceof KagziError ? { code: err.code } : {};
      return Response.json({ ok: false, error: String(err), ...e, stack: (err as Error)?.stack });
    }
  },
};
