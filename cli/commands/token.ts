/**
 * `kagzi token …`: complete or fail a run's token by its id, list a run's tokens, rotate the
 * secret token URLs are signed with.
 */
import type { TokenInfo } from "@kagzi/sdk";
import { type Command, type Group, jsonFlag, str } from "../_command.ts";
import { Exit, UsageError } from "../_errors.ts";
import { time } from "../_output.ts";
import { resolveRun } from "./_runs.ts";

const tokenJson = (t: TokenInfo) => ({ ...t, error: t.error?.message });

function show(rt: Parameters<Command["run"]>[0], t: TokenInfo): void {
  rt.out.item([
    ["Token ID", t.id],
    ["Run ID", t.runId],
    ["Name", t.name],
    ["Status", t.status],
    ["Value", t.value === undefined ? undefined : JSON.stringify(t.value)],
    ["Error", t.error?.message],
    ["Completed", time(t.completedAt)],
  ], tokenJson(t));
}

const complete: Command = {
  name: "complete",
  args: "<tokenId>",
  summary: "Complete a token with a value: the run waiting on it resumes",
  details: "A token completed or failed before, or expired, is refused (PRECONDITION_FAILED,\n" +
    "exit 3) and keeps its outcome.",
  flags: {
    value: { type: "string", value: "JSON|@file", help: "the value: JSON text, @file or @-" },
  },
  min: 1,
  max: 1,
  async run(rt, v, [id]) {
    const value = await jsonFlag(v, "value");
    show(rt, await (await rt.client()).completeToken(id, value));
    return Exit.ok;
  },
};

const fail: Command = {
  name: "fail",
  args: "<tokenId>",
  summary: "Fail a token: the run's wait rejects with TokenFailedError",
  details: "Refused like `token complete` when the token was settled before or expired.",
  flags: {
    reason: { type: "string", value: "TEXT", help: "why (the error's message)" },
  },
  min: 1,
  max: 1,
  async run(rt, v, [id]) {
    const reason = str(v, "reason");
    if (!reason) throw new UsageError("--reason is required");
    show(rt, await (await rt.client()).failToken(id, reason));
    return Exit.ok;
  },
};

const list: Command = {
  name: "list",
  args: "<run>",
  summary: "List a run's tokens (pending, completed, failed, expired) with their URLs",
  flags: {},
  min: 1,
  max: 1,
  async run(rt, _v, [ref]) {
    const client = await rt.client();
    const { id } = await resolveRun(client, ref, rt.namespace);
    rt.out.list(await client.listTokens(id), [
      ["TOKEN ID", (t) => t.id],
      ["NAME", (t) => t.name],
      ["STATUS", (t) => t.status],
      ["TIMEOUT", (t) => time(t.timeoutAt)],
      ["COMPLETED", (t) => time(t.completedAt)],
      ["URL", (t) => t.url],
    ], tokenJson);
    return Exit.ok;
  },
};

const rotateSecret: Command = {
  name: "rotate-secret",
  args: "",
  summary:
    "Add a new secret for signing token URLs (admin key); prints its id, and how many were retired",
  details: "URLs handed out before stay valid, unless --retire-older: then every older secret\n" +
    "is deleted and their URLs are refused (401) by every server at once. Pending tokens'\n" +
    "URLs signed with the new secret: `kagzi token list <run>`.",
  flags: {
    "retire-older": { type: "boolean", help: "delete every older secret (revoke their URLs)" },
  },
  min: 0,
  max: 0,
  async run(rt, v) {
    const client = await rt.client();
    const r = await client.rotateTokenSecretDetailed({ retireOlder: v["retire-older"] === true });
    rt.out.item([["Secret ID", r.secretId], ["Retired", String(r.retired)]], r);
    return Exit.ok;
  },
};

/** The `token` group. */
export const tokenGroup: Group = {
  name: "token",
  summary: "Complete, fail and list the tokens runs wait on; rotate their URL secret",
  commands: [complete, fail, list, rotateSecret],
};
