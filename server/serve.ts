/**
 * The entry point for `deno serve -A server/serve.ts`: `deno serve` listens (on its `--host` and
 * `--port`) and calls this module's `fetch` export, which serves Connect and gRPC-Web (native gRPC
 * needs the `node:http2` listener of `server/main.ts`). Settings come from the environment as for
 * `server/main.ts`; `DENO_DEPLOY=true` or `KAGZI_SERVERLESS=true` select serverless mode.
 *
 * @example Serve on port 8000 with the embedded database
 * ```sh
 * deno serve -A --port 8000 server/serve.ts
 * ```
 *
 * @module
 */
import { boot } from "./boot.ts";

const { server, cron } = await boot();
cron?.attach(server);

// `deno serve` stops listening on SIGINT/SIGTERM; the engine and the database close here.
const stop = async () => {
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

/** The handler `deno serve` calls. */
export default {
  fetch: (req: Request): Promise<Response> => server.fetch(req),
} satisfies Deno.ServeDefaultExport;
