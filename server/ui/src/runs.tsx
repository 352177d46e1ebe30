/**
 * The Runs screen: filters kept in the URL, server-side paging, live refresh, cancel of selected
 * runs, and server-side bulk actions on every run matching the filters.
 */
import { useState } from "preact/hooks";
import { isOpen, type Kagzi, type Workflow } from "@kagzi/sdk/client";
import { cancelMany, withClient } from "./api.ts";
import { elapsed, formatTime, shortId } from "./format.ts";
import { useLoad } from "./hooks.ts";
import { href, navigate } from "./router.ts";
import { BulkActions } from "./runs_bulk.tsx";
import { FilterForm, type Filters, filters, query, tagsText, urlOf } from "./runs_filters.tsx";
import { Confirm, Link, Notice, Status } from "./ui.tsx";

const pageSize = 50;
/** Tokens of the pages before the current one, for "Previous" (kept per tab, not in the URL). */
const previous: string[] = [];

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
        <BulkActions f={f} onProgress={page.reload} />
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
            <th scope="col">Tags</th>
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
              onTag={(k, v) => set({ tags: tagsText(f.tags, k, v) })}
            />
          ))}
          {!page.loading && rows.length === 0 && !page.error && (
            <tr>
              <td colSpan={10} class="empty">No runs match these filters.</td>
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
  props: {
    w: Workflow;
    ns: string;
    checked: boolean;
    toggle: (id: string) => void;
    onTag: (key: string, value: string) => void;
  },
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
      <td class="tags">
        {Object.entries(w.tags).map(([k, v]) => (
          <button
            key={k}
            type="button"
            class="tag"
            title={`Show only runs tagged ${k}=${v}`}
            onClick={() => props.onTag(k, v)}
          >
            {k}={v}
          </button>
        ))}
      </td>
      <td class="num">{w.attempts}</td>
      <td>{formatTime(w.startedAt ?? w.createdAt)}</td>
      <td class="num">{elapsed(w.startedAt, w.finishedAt)}</td>
    </tr>
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
