/** The Runs screen's filters: read from and written to the URL, turned into a list call. */
import type { TargetedEvent } from "preact";
import { useState } from "preact/hooks";
import {
  type Kagzi,
  type ListCall,
  WORKFLOW_STATUSES,
  type WorkflowStatus,
} from "@kagzi/sdk/client";
import { namespace, withClient } from "./api.ts";
import { isUuid } from "./format.ts";
import { href, navigate, route } from "./router.ts";

/** The filters of the list, read from the URL. */
export function filters() {
  const q = route.value.query;
  return {
    ns: namespace(),
    status: q.get("status") ?? "",
    type: q.get("type") ?? "",
    wf: q.get("wf") ?? "",
    schedule: q.get("schedule") ?? "",
    parent: q.get("parent") ?? "",
    tags: q.get("tags") ?? "",
    page: q.get("page") ?? "",
    live: q.get("live") !== "0",
  };
}
export type Filters = ReturnType<typeof filters>;

export function urlOf(f: Partial<Filters>): string {
  return href("/", {
    ns: f.ns === "default" ? "" : f.ns,
    status: f.status,
    type: f.type,
    wf: f.wf,
    schedule: f.schedule,
    parent: f.parent,
    tags: f.tags,
    page: f.page,
    live: f.live === false ? "0" : "",
  });
}

export function query(client: Kagzi, f: Filters): ListCall {
  let call = client.list().namespace(f.ns);
  if (f.status) call = call.status(f.status as WorkflowStatus);
  if (f.type) call = call.type(f.type);
  if (f.wf) call = call.workflowId(f.wf);
  if (f.schedule) call = call.scheduleId(f.schedule);
  if (f.parent) call = call.parent(f.parent);
  for (const [k, v] of parseTags(f.tags)) call = call.tag(k, v);
  return call;
}

/** "customer=acme, tier=gold" as pairs; an entry with no "=" filters on an empty value. */
export function parseTags(text: string): [string, string][] {
  return text.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
    const i = p.indexOf("=");
    return i < 0 ? [p, ""] : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
  });
}

/** Adds `key=value` to the tag filter text (replacing another value of the key). */
export function tagsText(current: string, key: string, value: string): string {
  const pairs = parseTags(current).filter(([k]) => k !== key);
  return [...pairs, [key, value]].map(([k, v]) => `${k}=${v}`).join(", ");
}

export function FilterForm(props: { f: Filters; set: (p: Partial<Filters>) => void }) {
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
      <label>
        Tags
        <input
          value={f.tags}
          placeholder="key=value, …"
          onChange={(e) => set({ tags: e.currentTarget.value.trim() })}
        />
      </label>
      <button type="submit">Search</button>
      {(f.status || f.type || f.wf || f.schedule || f.parent || f.tags) && (
        <button
          type="button"
          class="link"
          onClick={() => {
            setSearch("");
            set({ status: "", type: "", wf: "", schedule: "", parent: "", tags: "" });
          }}
        >
          Clear filters
        </button>
      )}
    </form>
  );
}
