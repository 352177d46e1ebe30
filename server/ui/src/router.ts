/** A small router over `location`: the path under /ui and the query, as a signal. */
import { signal } from "@preact/signals";

/** Where the dashboard is mounted. */
export const base = "/ui";

/** The current route: path below `base` ("/", "/runs/<id>", …) and query parameters. */
export interface Route {
  path: string;
  query: URLSearchParams;
}

function current(): Route {
  const path = location.pathname.startsWith(base)
    ? location.pathname.slice(base.length) || "/"
    : "/";
  return { path, query: new URLSearchParams(location.search) };
}

/** The route being shown; changes on navigation and on back/forward. */
export const route = signal<Route>(current());
addEventListener("popstate", () => (route.value = current()));

/** The href of a dashboard path with query parameters (empty values left out). */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
  const s = q.toString();
  return `${base}${path}${s ? `?${s}` : ""}`;
}

/** Goes to `url` (from {@linkcode href}); `replace` keeps the history entry (filter edits). */
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route.value = current();
  if (!replace) scrollTo(0, 0);
}

/** A click handler for links: plain left clicks navigate in place, others behave as links. */
export function onLinkClick(e: MouseEvent): void {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.currentTarget as HTMLAnchorElement;
  e.preventDefault();
  navigate(a.getAttribute("href")!);
}
