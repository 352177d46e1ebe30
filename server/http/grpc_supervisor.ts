/**
 * Runs the native gRPC listener (`grpc_listener.ts`) as a child process and
 * keeps it running: when it exits for any reason other than `close()`, it is
 * started again on the same port after a back-off (100 ms doubling to 10 s,
 * reset once a listener has run for a minute), and each exit is logged. The
 * server process itself never loads a `node:http2` server.
 *
 * @module
 */
import type { Logger, LogLevel } from "../log.ts";

/** Options of {@linkcode startGrpcListener}. */
export interface GrpcListenerOptions {
  /** Interface to bind. */
  host: string;
  /** Port to bind; 0 picks a free one (kept across restarts). */
  port: number;
  /** The Connect port's base URL the listener forwards to, e.g. `http://127.0.0.1:50051`. */
  upstream: string;
  log: Logger;
  logLevel: LogLevel;
}

/** A supervised listener process. */
export interface GrpcListener {
  /** The port it listens on. */
  readonly port: number;
  /** The pid of the current listener process (undefined while restarting). */
  readonly pid: number | undefined;
  /** Stops restarting, asks the listener to finish its calls and waits for it (at most 5 s). */
  close(): Promise<void>;
}

const module = new URL("./grpc_listener.ts", import.meta.url).href;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 10_000;
const HEALTHY_AFTER_MS = 60_000;

/** Starts the listener; throws (with its message) when it cannot listen. */
export async function startGrpcListener(options: GrpcListenerOptions): Promise<GrpcListener> {
  let port = options.port;
  let child: Deno.ChildProcess | undefined;
  let closing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = FIRST_DELAY_MS;

  const spawn = async (): Promise<Deno.ChildProcess> => {
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-prompt",
        "--allow-net",
        module,
        "--host",
        options.host,
        "--port",
        String(port),
        "--upstream",
        options.upstream,
        "--log-level",
        options.logLevel,
      ],
      // Never written to: the listener exits when it reads EOF, i.e. when this process is gone.
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const ready = await readPort(proc.stdout);
    if (ready === undefined) {
      const status = await proc.status;
      throw new Error(`the gRPC listener exited (${describe(status)}) before listening`);
    }
    port = ready;
    return proc;
  };

  const watch = (proc: Deno.ChildProcess) => {
    const started = Date.now();
    proc.status.then((status) => {
      child = undefined;
      if (closing) return;
      if (Date.now() - started > HEALTHY_AFTER_MS) delay = FIRST_DELAY_MS;
      options.log.error(
        `native gRPC listener (pid ${proc.pid}) exited (${describe(status)}); ` +
          `restarting it in ${delay} ms`,
      );
      schedule();
    });
  };

  const schedule = () => {
    timer = setTimeout(async () => {
      timer = undefined;
      if (closing) return;
      try {
        const proc = await spawn();
        if (closing) {
          proc.kill("SIGTERM");
          return;
        }
        child = proc;
        options.log.warn(`native gRPC listener restarted (pid ${proc.pid}) on port ${port}`);
        watch(proc);
      } catch (err) {
        options.log.error(`restarting the native gRPC listener failed`, err);
        schedule();
      }
    }, delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  };

  child = await spawn();
  options.log.info(`native gRPC listener started (pid ${child.pid}) on port ${port}`);
  watch(child);

  return {
    get port() {
      return port;
    },
    get pid() {
      return child?.pid;
    },
    async close() {
      closing = true;
      clearTimeout(timer);
      const proc = child;
      if (!proc) return;
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
      const killer = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5_000);
      await proc.status;
      clearTimeout(killer);
    },
  };
}

/** Reads `{"port":N}` from the listener's stdout; undefined when it ends first. */
async function readPort(stdout: ReadableStream<Uint8Array>): Promise<number | undefined> {
  let text = "";
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
    }
  } finally {
    // Nothing else is written to stdout; let it go so the pipe does not fill.
    reader.cancel().catch(() => {});
  }
  const port = Number(JSON.parse(text.slice(0, text.indexOf("\n"))).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function describe(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}
