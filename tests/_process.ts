/** A subprocess for tests (Deno, Node, Bun, workerd): its output is collected and awaited for a marker. */

/** A running child process. */
export interface TestProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  pid: number;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Sends a signal without waiting; a process already gone is ignored. */
  kill(signal?: Deno.Signal): void;
  /** Resolves with the exit status once the process and its output are done. */
  status: Promise<Deno.CommandStatus>;
}

/**
 * Runs `deno <args>` and waits until its output contains `marker`; throws with the
 * output when it exits or takes longer than a minute first.
 */
export function spawnDeno(
  args: string[],
  env: Record<string, string>,
  marker: string,
  what: string,
): Promise<TestProcess> {
  return spawnProcess(Deno.execPath(), args, { env }, marker, what);
}

/** Like {@linkcode spawnDeno} for any program, e.g. `node` or `bun`, optionally in `cwd`. */
export async function spawnProcess(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string },
  marker: string,
  what: string,
): Promise<TestProcess> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let ready: (ok: boolean) => void;
  const readyP = new Promise<boolean>((r) => (ready = r));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (out.includes(marker)) ready(true);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps.catch(() => {});
    ready(false);
    return s;
  });
  // Generous: an embedded server applies every migration at start, slow on a loaded machine.
  const timer = setTimeout(() => ready(false), 120_000);
  const ok = await readyP;
  clearTimeout(timer);
  const proc: TestProcess = {
    child,
    pid: child.pid,
    output: () => out,
    kill(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    status,
    async [Symbol.asyncDispose]() {
      proc.kill("SIGKILL");
      await status;
    },
  };
  if (!ok) {
    proc.kill("SIGKILL");
    await status;
    throw new Error(`${what} did not start:\n${out}`);
  }
  return proc;
}
