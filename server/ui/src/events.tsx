/**
 * The Events screen: the namespace's webhooks (never their secrets; delete), which workflow
 * types are subscribed to which events, and the recent events with the runs each started.
 */
import { useState } from "preact/hooks";
import type { HookInfo } from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { formatTime, relative, shortId } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href } from "./router.ts";
import { Confirm, Link, Notice } from "./ui.tsx";

/** The Events screen. */
export function Events() {
  const ns = namespace();
  const nsq = ns === "default" ? "" : ns;
  const load = useLoad(
    ns,
    () =>
      withClient(async (c) => ({
        hooks: await c.listHooks({ namespace: ns }),
        subscriptions: await c.listEventSubscriptions({ namespace: ns }),
        events: (await c.listEvents({ namespace: ns, pageSize: 50 })).events,
      })),
    { live: true, everyMs: 5_000 },
  );
  const [deleting, setDeleting] = useState<HookInfo>();
  const [done, setDone] = useState("");
  const hooks = load.data?.hooks ?? [];
  const subscriptions = load.data?.subscriptions ?? [];
  const events = load.data?.events ?? [];
  const empty = (cols: number, what: string) => (
    <tr>
      <td colSpan={cols} class="empty">{what}</td>
    </tr>
  );
  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">Hooks and events</h1>
      <Notice kind="ok">{done}</Notice>
      <Notice kind="error">{load.error}</Notice>
      <h2 id="hooks-title">Hooks</h2>
      <table aria-labelledby="hooks-title">
        <thead>
          <tr>
            <th scope="col">Hook</th>
            <th scope="col">Starts</th>
            <th scope="col">POST to</th>
            <th scope="col">Secret</th>
            <th scope="col">Updated</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {hooks.map((h) => (
            <tr key={h.name}>
              <td>{h.name}</td>
              <td>{h.workflow ? `a run of ${h.workflow}` : `event ${h.event}`}</td>
              <td class="mono">{h.path}</td>
              <td class="mono" title="first digits of the secret's SHA-256">{h.secretHint}…</td>
              <td title={relative(h.updatedAt)}>{formatTime(h.updatedAt)}</td>
              <td class="actions">
                <button type="button" class="danger" onClick={() => setDeleting(h)}>Delete</button>
              </td>
            </tr>
          ))}
          {!load.loading && hooks.length === 0 && !load.error && empty(6, "No hooks.")}
        </tbody>
      </table>
      <h2 id="subs-title">Subscriptions</h2>
      <table aria-labelledby="subs-title">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Starts a run of</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {subscriptions.map((s) => (
            <tr key={`${s.event}>${s.workflowType}`}>
              <td class="mono">{s.event}</td>
              <td>{s.workflowType}</td>
              <td title={relative(s.createdAt)}>{formatTime(s.createdAt)}</td>
            </tr>
          ))}
          {!load.loading && subscriptions.length === 0 && !load.error &&
            empty(3, "No workflow type declares triggers.")}
        </tbody>
      </table>
      <h2 id="recent-title">Recent events</h2>
      <table aria-labelledby="recent-title">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Id</th>
            <th scope="col">Runs started</th>
            <th scope="col">Emitted</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={`${e.name}/${e.id}`}>
              <td class="mono">{e.name}</td>
              <td class="mono">{e.id}</td>
              <td>
                {e.runs.length === 0 && <span class="subtle">none</span>}
                {e.runs.map((r) => (
                  <span key={r.runId}>
                    <Link href={href(`/runs/${r.runId}`, { ns: nsq })}>
                      {r.workflowType} {shortId(r.runId)}
                    </Link>
                    {" "}
                  </span>
                ))}
              </td>
              <td title={relative(e.createdAt)}>{formatTime(e.createdAt)}</td>
            </tr>
          ))}
          {!load.loading && events.length === 0 && !load.error && empty(4, "No events yet.")}
        </tbody>
      </table>
      {deleting && (
        <Confirm
          title="Delete hook"
          action="Delete"
          danger
          onClose={() => setDeleting(undefined)}
          onConfirm={async () => {
            await withClient((c) => c.deleteHook(deleting.name, { namespace: ns }));
            setDone(`Hook ${deleting.name} deleted; deliveries to it are refused from now on.`);
            load.reload();
          }}
        >
          <p>
            Delete hook <b>{deleting.name}</b>? Later deliveries to {deleting.path} get 404.
          </p>
        </Confirm>
      )}
    </section>
  );
}
