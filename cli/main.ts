/**
 * `kagzi`: operate a Kagzi server from a terminal, built on the SDK's client.
 *
 * @example Run it
 * ```sh
 * deno task kagzi run start process-order --input '{"userId":1}' --wait
 * deno run -A jsr:@kagzi/cli run list --status FAILED --output json
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Kagzi } from "@kagzi/sdk";
import type { Command, Group, Runtime, Values } from "./_command.ts";
import { Exit, report, UsageError } from "./_errors.ts";
import { commandHelp, globalFlags, groupHelp, topHelp } from "./_help.ts";
import { type Format, formats, Output } from "./_output.ts";
import { rateLimitGroup } from "./commands/rate_limit.ts";
import { runGroup } from "./commands/run.ts";
import { scheduleGroup } from "./commands/schedule.ts";
import { serverGroup } from "./commands/server.ts";
import { tokenGroup } from "./commands/token.ts";
import { workerGroup } from "./commands/worker.ts";
import { eventGroup, hookGroup } from "./commands/hook.ts";

/** The CLI's release. */
export const CLI_VERSION = "0.1.0";

const groups: Group[] = [
  runGroup,
  scheduleGroup,
  tokenGroup,
  hookGroup,
  eventGroup,
  workerGroup,
  serverGroup,
  rateLimitGroup,
];

type Options = Parameters<typeof parseArgs>[0] extends infer O
  ? O extends { options?: infer P } ? NonNullable<P> : never
  : never;

function optionsOf(
  ...flagSets: Record<string, { type: "string" | "boolean"; short?: string }>[]
) {
  const options: Options = {};
  for (const set of flagSets) {
    for (const [name, f] of Object.entries(set)) {
      options[name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
    }
  }
  return options;
}

/** The group and command words: the first two arguments that are not flags or flag values. */
function commandWords(args: string[]): string[] {
  const every = optionsOf(
    globalFlags,
    ...groups.flatMap((g) => g.commands.map((c) => c.flags)),
  );
  const { positionals } = parseArgs({
    args,
    options: every,
    strict: false,
    allowPositionals: true,
  });
  return positionals.slice(0, 2);
}

/**
 * Runs the command in `args` with settings from `env`; resolves with the exit
 * code (0 ok, 1 the run failed or was cancelled, 2 usage error, 3 other error).
 */
export async function main(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<number> {
  try {
    const [groupName, commandName] = commandWords(args);
    const wantsHelp = args.includes("--help") || args.includes("-h");
    if (!groupName) {
      if (args.length === 1 && args[0] === "--version") {
        console.log(`kagzi ${CLI_VERSION}`);
        return Exit.ok;
      }
      if (wantsHelp) {
        console.log(topHelp(groups));
        return Exit.ok;
      }
      console.error(topHelp(groups));
      return Exit.usage;
    }
    const group = groups.find((g) => g.name === groupName);
    if (!group) {
      throw new UsageError(
        `unknown command "${groupName}"; use one of ${groups.map((g) => g.name).join(", ")}`,
      );
    }
    if (!commandName) {
      if (wantsHelp) {
        console.log(groupHelp(group));
        return Exit.ok;
      }
      throw new UsageError(
        `"kagzi ${group.name}" needs a command: ${group.commands.map((c) => c.name).join(", ")}`,
        `kagzi ${group.name}`,
      );
    }
    const command = group.commands.find((c) => c.name === commandName);
    if (!command) {
      throw new UsageError(
        `unknown command "${group.name} ${commandName}"; use one of ${
          group.commands.map((c) => c.name).join(", ")
        }`,
        `kagzi ${group.name}`,
      );
    }
    return await runCommand(group, command, args, env);
  } catch (err) {
    return report(err);
  }
}

async function runCommand(
  group: Group,
  command: Command,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const help = `kagzi ${group.name} ${command.name}`;
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: optionsOf(globalFlags, command.flags),
      strict: true,
      allowPositionals: true,
    }) as { values: Values; positionals: string[] });
  } catch (err) {
    throw new UsageError((err as Error).message, help);
  }
  if (values.help) {
    console.log(commandHelp(group, command));
    return Exit.ok;
  }
  const rest = positionals.slice(2);
  if (rest.length < command.min || rest.length > command.max) {
    const expected = command.args || "no arguments";
    throw new UsageError(
      `"${help}" takes ${expected}; got ${
        rest.length ? rest.map((a) => `"${a}"`).join(" ") : "none"
      }`,
      help,
    );
  }
  const format = (values.output ?? env.KAGZI_OUTPUT ??
    (Deno.stdout.isTerminal() ? "table" : "json")) as Format;
  if (!formats.includes(format)) {
    throw new UsageError(
      `Invalid --output "${format}": use ${formats.join(", ")}`,
      help,
    );
  }
  const address = (values.address as string | undefined) ?? env.KAGZI_ADDRESS ??
    "http://127.0.0.1:50051";
  const namespace = (values.namespace as string | undefined) ??
    env.KAGZI_NAMESPACE ?? "default";
  const apiKey = (values["api-key"] as string | undefined) ?? env.KAGZI_API_KEY;
  let client: Promise<Kagzi> | undefined;
  const rt: Runtime = {
    address,
    namespace,
    out: new Output(format),
    client: () => (client ??= Kagzi.connect(address, {
      namespace,
      apiKey: apiKey || undefined,
    })),
  };
  return await command.run(rt, values, rest);
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
