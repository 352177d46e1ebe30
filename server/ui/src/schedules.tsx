/** The Schedules screen: cron, time zone, fire times; pause/resume, trigger now, delete, runs. */
import { useState } from "preact/hooks";
import type { Schedule } from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { describeError, formatTime, relative } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate } from "./router.ts";
import { Confirm, Link, Notice, Status } from "./ui.tsx";

/** The Schedules screen. */
export function Schedules() {
  const ns = namespace();
  const list = useLoad(
    ns,
    () => withClient((c) => c.listSchedules({ namespace: ns, pageSize: 1000 })),
    { live: true, everyMs: 5_000 },
  );
  const [deleting, setDeleting] = useState<Schedule>();
  const [done, setDone] = useState("");
  const [error, setError] = useState("");
  const nsq = ns === "default" ? "" : ns;
  const act = async (what: () => Promise<string>) => {
    setError("");
    try {
      setDone(await what());
      list.reload();
    } catch (err) {
      setDone("");
      setError(describeError(err));
    }
  };
  const schedules = list.data?.schedules ?? [];
  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      <Notice kind="ok">{done}</Notice>
      <Notice kind="error">{error || list.error}</Notice>
      <table>
        <caption class="visually-hidden">Cron schedules of namespace {ns}</caption>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Workflow type</th>
            <th scope="col">Cron</th>
            <th scope="col">Time zone</th>
            <th scope="col">Next fire</th>
            <th scope="col">Last fire</th>
            <th scope="col">State</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {schedules.map((s) => (
            <tr key={s.id}>
              <td>
                <Link href={href("/", { ns: nsq, schedule: s.id })}>{s.id}</Link>
              </td>
              <td>
                {s.workflowType}
                {s.version && <span class="subtle">({s.version})</span>}
              </td>
              <td class="mono">{s.cron}</td>
              <td>{s.timezone || "UTC"}</td>
              <td title={relative(s.nextFireAt)}>{formatTime(s.nextFireAt)}</td>
              <td title={relative(s.lastFiredAt)}>{formatTime(s.lastFiredAt)}</td>
              <td>
                <Status value={s.enabled ? "ENABLED" : "PAUSED"} />
              </td>
              <td class="actions">
                <button
                  type="button"
                  onClick={() =>
                    act(async () => {
                      await withClient((c) =>
                        c.updateSchedule(s.id, { enabled: !s.enabled }, { namespace: ns })
                      );
                      return `Schedule ${s.id} ${s.enabled ? "paused" : "resumed"}.`;
                    })}
                >
                  {s.enabled ? "Pause" : "Resume"}
                </button>
                <button
                  type="button"
                  onClick={() =>
                    act(async () => {
                      const run = await withClient((c) =>
                        c.triggerSchedule(s.id, { namespace: ns })
                      );
                      navigate(href(`/runs/${run.id}`, { ns: nsq }));
                      return `Started run ${run.id}.`;
                    })}
                >
                  Trigger now
                </button>
                <button type="button" class="danger" onClick={() => setDeleting(s)}>Delete</button>
              </td>
            </tr>
          ))}
          {!list.loading && schedules.length === 0 && !list.error && (
            <tr>
              <td colSpan={8} class="empty">No schedules.</td>
            </tr>
          )}
        </tbody>
      </table>
      {deleting && (
        <Confirm
          title="Delete schedule"
          action="Delete"
          danger
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await withClient((c) => c.deleteSchedule(deleting.id, { namespace: ns }));
            setDone(`Schedule ${deleting.id} deleted; the runs it started are kept.`);
            list.reload();
          }}
        >
          <p>
            Delete schedule <b>{deleting.id}</b>? It stops firing; the runs it started are kept.
          </p>
        </Confirm>
      )}
    </section>
  );
}
