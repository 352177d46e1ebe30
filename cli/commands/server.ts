/** `kagzi server …`: health and information. */
import type { Command, Group } from "../_command.ts";
import { Exit } from "../_errors.ts";

const health: Command = {
  name: "health",
  args: "",
  summary: "Check the server and its database; exit 1 when unhealthy",
  flags: {},
  min: 0,
  max: 0,
  async run(rt) {
    const h = await (await rt.client()).health();
    rt.out.item([
      ["Server", rt.address],
      ["Healthy", h.healthy ? "yes" : "no"],
      ["Database", h.databaseOk ? "ok" : "not ok"],
      ["Message", h.message],
    ], { address: rt.address, ...h });
    return h.healthy ? Exit.ok : Exit.failed;
  },
};

const info: Command = {
  name: "info",
  args: "",
  summary: "Show the server's version, API version, features, database and default versions",
  flags: {},
  min: 0,
  max: 0,
  async run(rt) {
    const i = await (await rt.client()).serverInfo();
    rt.out.item([
      ["Server", rt.address],
      ["Version", i.version],
      ["API version", i.apiVersion],
      ["Database", i.database],
      ["Features", i.features.join(", ")],
      [
        "Default versions",
        Object.entries(i.defaultVersions).map(([t, v]) => `${t}=${v}`).join(
          ", ",
        ),
      ],
    ], { address: rt.address, namespace: rt.namespace, ...i });
    return Exit.ok;
  },
};

/** The `server` group. */
export const serverGroup: Group = {
  name: "server",
  summary: "Server health and information",
  commands: [health, info],
};
