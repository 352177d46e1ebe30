/** The Workers screen: health, workflow types and versions, slots in use, heartbeat; Drain. */
import { useState } from "preact/hooks";
import type { WorkerSummary } from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { formatTime, relative } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate, route } from "./router.ts";
import { Confirm, Notice, Status } from "./ui.tsx";

/** The Workers screen. */
export function Workers() {
  const ns = namespace();
  const status = route.value.query.get("status") ?? "";
  const list = useLoad(
    `${ns}/${status}`,
    () =>
      withClient((c) =>
        c.listWorkers({
          namespace: ns,
          status: (status || undefined) as WorkerSummary["status"] | undefined,
          pageSize: 200,
        })
      ),
    { live: true },
  );
  const [draining, setDraining] = useState<WorkerSummary>();
  const [done, setDone] = useState("");
  const workers = list.data?.workers ?? [];
  return (
    <section aria-labelledby="workers-title">
      <h1 id="workers-title">Workers</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter workers">
        <label>
          Status
          <select
            value={status}
            onChange={(e) =>
              navigate(
                href("/workers", {
                  ns: ns === "default" ? "" : ns,
                  status: e.currentTarget.value,
                }),
                true,
              )}
          >
            <option value="">any</option>
            <option value="ONLINE">ONLINE</option>
            <option value="DRAINING">DRAINING</option>
            <option value="OFFLINE">OFFLINE</option>
          </select>
        </label>
      </form>
      <Notice kind="ok">{done}</Notice>
      <Notice kind="error">{list.error}</Notice>
      <table>
        <caption class="visually-hidden">Workers of namespace {ns}</caption>
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Status</th>
            <th scope="col">Health</th>
            <th scope="col">Workflow types</th>
            <th scope="col">Slots in use</th>
            <th scope="col">Completed / failed</th>
            <th scope="col">Last heartbeat</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((w) => (
            <tr key={w.id}>
              <td>
                <div class="mono">{w.id}</div>
                <div class="subtle">
                  {w.hostname} pid {w.pid} · SDK {w.sdkVersion}
                  {w.version && ` · app ${w.version}`}
                </div>
              </td>
              <td>
                <Status value={w.status} />
              </td>
              <td>
                <Status value={w.health} />
              </td>
              <td>
                {w.workflowTypes.map((t) => (
                  <div key={t.type}>
                    {t.type}
                    {t.versions.some(Boolean) && (
                      <span class="subtle">({t.versions.filter(Boolean).join(", ")})</span>
                    )}
                  </div>
                ))}
              </td>
              <td class="num">{w.activeCount} / {w.maxConcurrent}</td>
              <td class="num">{w.completedCount} / {w.failedCount}</td>
              <td title={formatTime(w.lastHeartbeatAt)}>{relative(w.lastHeartbeatAt)}</td>
              <td>
                {w.status === "ONLINE" && (
                  <button type="button" onClick={() => setDraining(w)}>Drain</button>
                )}
              </td>
            </tr>
          ))}
          {!list.loading && workers.length === 0 && !list.error && (
            <tr>
              <td colSpan={8} class="empty">No workers.</td>
            </tr>
          )}
        </tbody>
      </table>
      {draining && (
        <Confirm
          title="Drain worker"
          action="Drain"
          danger
          onClose={() => setDraining(undefined)}
          onConfirm={async () => {
            await withClient((c) => c.drainWorker(draining.id, { namespace: ns }));
            setDone(`Worker ${draining.id} is draining.`);
            list.reload();
          }}
        >
          <p>
            Drain worker <span class="mono">{draining.id}</span> on{" "}
            {draining.hostname}? It stops taking new runs, finishes or releases the{" "}
            {draining.activeCount} it holds, and leaves.
          </p>
        </Confirm>
      )}
    </section>
  );
}
