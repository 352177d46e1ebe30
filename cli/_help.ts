/** Help texts of every level: `kagzi --help`, `kagzi run --help`, `kagzi run start --help`. */
import type { Command, Flag, Group } from "./_command.ts";

/** Flags every command takes. */
export const globalFlags: Record<string, Flag> = {
  address: {
    type: "string",
    value: "URL",
    help: "server address (env KAGZI_ADDRESS; default http://127.0.0.1:50051)",
  },
  namespace: {
    type: "string",
    value: "NS",
    help: 'namespace (env KAGZI_NAMESPACE; default "default")',
  },
  "api-key": {
    type: "string",
    value: "KEY",
    help: "API key sent as Bearer (env KAGZI_API_KEY)",
  },
  output: {
    type: "string",
    short: "o",
    value: "FORMAT",
    help: "table, json or jsonl (env KAGZI_OUTPUT; default table on a terminal, json otherwise)",
  },
  help: { type: "boolean", short: "h", help: "show help for any command" },
};

const exitCodes = `Exit codes:
  0  success
  1  the run failed or was cancelled (run start --wait, run result, run show --follow),
     or the server is unhealthy (server health)
  2  usage error: an unknown command or flag, a missing or bad argument, or a value the
     server refused as invalid (its message and field are printed)
  3  any other error: server unreachable, run not found, API key refused, …`;

function flagLines(flags: Record<string, Flag>): string {
  const rows = Object.entries(flags).map(([name, f]) => [
    `${f.short ? `-${f.short}, ` : "    "}--${name}${f.value ? ` ${f.value}` : ""}`,
    f.help,
  ]);
  const width = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join("\n");
}

function list(items: { name: string; summary: string }[]): string {
  const width = Math.max(...items.map((i) => i.name.length));
  return items.map((i) => `  ${i.name.padEnd(width)}  ${i.summary}`).join("\n");
}

/** `kagzi --help`. */
export function topHelp(groups: Group[]): string {
  return `kagzi: operate a Kagzi server from a terminal

Usage: kagzi <group> <command> [arguments] [flags]

Groups:
${
    list(
      groups.map((g) => ({
        name: g.name,
        summary: `${g.summary}: ${g.commands.map((c) => c.name).join(", ")}`,
      })),
    )
  }

Global flags:
${flagLines(globalFlags)}
  kagzi --version prints the CLI's version.

${exitCodes}

Run "kagzi <group> --help" or "kagzi <group> <command> --help" for more.`;
}

/** `kagzi <group> --help`. */
export function groupHelp(g: Group): string {
  return `kagzi ${g.name}: ${g.summary}

Usage: kagzi ${g.name} <command> [arguments] [flags]

Commands:
${
    list(
      g.commands.map((c) => ({
        name: `${c.name}${c.args ? ` ${c.args}` : ""}`,
        summary: c.summary,
      })),
    )
  }
${g.note ? `\n${g.note}\n` : ""}
Run "kagzi ${g.name} <command> --help" for a command's flags; "kagzi --help" for global flags.`;
}

/** `kagzi <group> <command> --help`. */
export function commandHelp(g: Group, c: Command): string {
  const flags = Object.keys(c.flags).length ? `\nFlags:\n${flagLines(c.flags)}\n` : "";
  return `kagzi ${g.name} ${c.name}: ${c.summary}

Usage: kagzi ${g.name} ${c.name}${c.args ? ` ${c.args}` : ""} [flags]
${c.details ? `\n${c.details}\n` : ""}${
    g.note && c.args.includes("<run") ? `\n${g.note}\n` : ""
  }${flags}
Global flags:
${flagLines(globalFlags)}

${exitCodes}`;
}
