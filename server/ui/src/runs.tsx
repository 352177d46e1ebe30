/** The Runs screen: filters kept in the URL, server-side paging, live refresh, bulk cancel. */
import type { TargetedEvent } from "preact";
import { useState } from "preact/hooks";
import {
  isOpen,
  type Kagzi,
  type ListCall,
  type Workflow,
  WORKFLOW_STATUSES,
  type WorkflowStatus,
} from "@kagzi/sdk/client";
import { cancelMany, namespace, withClient } from "./api.ts";
import { elapsed, formatTime, isUuid, shortId } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate, route } from "./router.ts";
import { Confirm, Link, Notice, Status } from "./ui.tsx";

const pageSize = 50;
/** Tokens of the pages before the current one, for "Previous" (kept per tab, not in the URL). */
const previous: string[] = [];

/** The filters of the list, read from the URL. */
function filters() {
  const q = route.value.query;
  return {
    ns: namespace(),
    status: q.get("status") ?? "",
    type: q.get("type") ?? "",
    wf: q.get("wf") ?? "",
    schedule: q.get("schedule") ?? "",
    parent: q.get("parent") ?? "",
    page: q.get("page") ?? "",
    live: q.get("live") !== "0",
  };
}
type Filters = ReturnType<typeof filters>;

function urlOf(f: Partial<Filters>): string {
  return href("/", {
    ns: f.ns === "default" ? "" : f.ns,
    status: f.status,
    type: f.type,
    wf: f.wf,
    schedule: f.schedule,
    parent: f.parent,
    page: f.page,
    live: f.live === false ? "0" : "",
  });
}

function query(client: Kagzi, f: Filters): ListCall {
  let call = client.list().namespace(f.ns);
  if (f.status) call = call.status(f.status as WorkflowStatus);
  if (f.type) call = call.type(f.type);
  if (f.wf) call = call.workflowId(f.wf);
  if (f.schedule) call = call.scheduleId(f.schedule);
  if (f.parent) call = call.parent(f.parent);
  return call;
}

/** The Runs screen. */
export function Runs() {
  const f = filters();
  const key = JSON.stringify({ ...f, live: 0 });
  const page = useLoad(
    key,
    () => withClient((c) => query(c, f).pageSize(pageSize).pageToken(f.page)),
    { live: f.live },
  );
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [allMatching, setAllMatching] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [result, setResult] = useState("");
  const rows = page.data?.workflows ?? [];

  const set = (patch: Partial<Filters>) => {
    previous.length = 0;
    setSelected(new Set());
    setAllMatching(false);
    navigate(urlOf({ ...f, page: "", ...patch }), true);
  };
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (!next.delete(id)) next.add(id);
    setSelected(next);
    setAllMatching(false);
  };
  const allOnPage = rows.length > 0 && rows.every((w) => selected.has(w.id));
  const count = allMatching ? "all matching" : String(selected.size);

  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Runs</h1>
      <FilterForm f={f} set={set} />
      <div class="toolbar">
        <label class="inline">
          <input
            type="checkbox"
            checked={f.live}
            onChange={(e) => set({ live: e.currentTarget.checked, page: f.page })}
          />{" "}
          Live refresh
        </label>
        <button
          type="button"
          class="danger"
          disabled={!allMatching && selected.size === 0}
          onClick={() => setConfirming(true)}
        >
          Cancel selected ({count})
        </button>
        {allOnPage && page.data?.nextPageToken && !allMatching && (
          <button
            type="button"
            class="link"
            onClick={() => setAllMatching(true)}
          >
            Select all runs matching these filters
          </button>
        )}
      </div>
      <Notice kind="ok">{result}</Notice>
      <Notice kind="error">{page.error}</Notice>
      <table class="runs">
        <caption class="visually-hidden">Workflow runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select every run on this page"
                checked={allOnPage}
                onChange={(e) => {
                  setAllMatching(false);
                  setSelected(e.currentTarget.checked ? new Set(rows.map((w) => w.id)) : new Set());
                }}
              />
            </th>
            <th scope="col">Run</th>
            <th scope="col">Workflow id</th>
            <th scope="col">Type</th>
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((w) => (
            <RunRow
              key={w.id}
              w={w}
              ns={f.ns}
              checked={allMatching || selected.has(w.id)}
              toggle={toggle}
            />
          ))}
          {!page.loading && rows.length === 0 && !page.error && (
            <tr>
              <td colSpan={9} class="empty">No runs match these filters.</td>
            </tr>
          )}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages">
        <button
          type="button"
          disabled={!f.page}
          onClick={() => navigate(urlOf({ ...f, page: previous.pop() ?? "" }))}
        >
          Previous
        </button>
        <button
          type="button"
          disabled={!page.data?.nextPageToken}
          onClick={() => {
            previous.push(f.page);
            navigate(urlOf({ ...f, page: page.data!.nextPageToken }));
          }}
        >
          Next
        </button>
      </nav>
      {confirming && (
        <BulkCancel
          f={f}
          ids={allMatching ? undefined : [...selected]}
          onDone={(text) => {
            setResult(text);
            setSelected(new Set());
            setAllMatching(false);
            page.reload();
          }}
          onClose={() => setConfirming(false)}
        />
      )}
    </section>
  );
}

function RunRow(
  props: { w: Workflow; ns: string; checked: boolean; toggle: (id: string) => void },
) {
  const { w } = props;
  const detail = href(`/runs/${w.id}`, { ns: props.ns === "default" ? "" : props.ns });
  return (
    <tr>
      <td>
        <input
          type="checkbox"
          aria-label={`Select run ${w.id}`}
          checked={props.checked}
          onChange={() => props.toggle(w.id)}
        />
      </td>
      <td>
        <Link href={detail} class="mono">{shortId(w.id)}</Link>
      </td>
      <td class="mono wrap">{w.workflowId}</td>
      <td>{w.type}</td>
      <td>{w.version}</td>
      <td>
        <Status value={w.status} />
      </td>
      <td class="num">{w.attempts}</td>
      <td>{formatTime(w.startedAt ?? w.createdAt)}</td>
      <td class="num">{elapsed(w.startedAt, w.finishedAt)}</td>
    </tr>
  );
}

function FilterForm(props: { f: Filters; set: (p: Partial<Filters>) => void }) {
  const { f, set } = props;
  const [search, setSearch] = useState(f.wf);
  const submit = async (e: TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    const text = search.trim();
    // A run id opens that run; anything else filters by workflow id.
    if (isUuid(text)) {
      const found = await withClient((c) => c.get(text).namespace(f.ns)).catch(() => undefined);
      if (found) return navigate(href(`/runs/${found.id}`, { ns: f.ns === "default" ? "" : f.ns }));
    }
    set({ wf: text });
  };
  return (
    <form class="filters" onSubmit={submit} role="search" aria-label="Filter runs">
      <label>
        Status
        <select value={f.status} onChange={(e) => set({ status: e.currentTarget.value })}>
          <option value="">any</option>
          {WORKFLOW_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
      </label>
      <label>
        Type
        <input
          value={f.type}
          placeholder="any"
          onChange={(e) => set({ type: e.currentTarget.value.trim() })}
        />
      </label>
      <label>
        Run id or workflow id
        <input value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
      </label>
      <label>
        Schedule
        <input
          value={f.schedule}
          placeholder="any"
          onChange={(e) => set({ schedule: e.currentTarget.value.trim() })}
        />
      </label>
      <label>
        Parent run
        <input
          value={f.parent}
          placeholder="any"
          onChange={(e) => set({ parent: e.currentTarget.value.trim() })}
        />
      </label>
      <button type="submit">Search</button>
      {(f.status || f.type || f.wf || f.schedule || f.parent) && (
        <button
          type="button"
          class="link"
          onClick={() => {
            setSearch("");
            set({ status: "", type: "", wf: "", schedule: "", parent: "" });
          }}
        >
          Clear filters
        </button>
      )}
    </form>
  );
}

/** Confirms and runs a bulk cancel of the given runs, or of every open run matching `f`. */
function BulkCancel(props: {
  f: Filters;
  ids: string[] | undefined;
  onDone: (text: string) => void;
  onClose: () => void;
}) {
  const [done, setDone] = useState(0);
  const what = props.ids
    ? `${props.ids.length} selected run(s)`
    : "every open run matching the filters";
  return (
    <Confirm
      title="Cancel runs"
      action="Cancel runs"
      danger
      onClose={props.onClose}
      onConfirm={() =>
        withClient(async (c) => {
          const ids = props.ids ?? openMatching(c, props.f);
          const r = await cancelMany(c, props.f.ns, ids, setDone);
          props.onDone(
            `Cancelled ${r.cancelled} run(s)` +
              (r.ended ? `; ${r.ended} had already ended` : "") +
              (r.failed.length
                ? `; ${r.failed.length} failed: ${r.failed.slice(0, 3).join("; ")}`
                : "") +
              ".",
          );
        })}
    >
      <p>
        Cancel{" "}
        {what}? Running steps see their abort signal; runs that have already ended are left as they
        are.
      </p>
      {done > 0 && <p role="status">{done} done…</p>}
    </Confirm>
  );
}

async function* openMatching(client: Kagzi, f: Filters): AsyncIterable<string> {
  if (f.status && !isOpen(f.status)) return;
  for await (const w of query(client, f).pageSize(500)) if (isOpen(w.status)) yield w.id;
}
