/**
 * The Kagzi dashboard: a Preact app served by the server at /ui, speaking only the public
 * `kagzi.v1` API through `@kagzi/sdk/client` (Connect over fetch, same origin).
 */
import { render } from "preact";
import { useState } from "preact/hooks";
import { connect, connection, namespace, signOut } from "./api.ts";
import { Overview } from "./overview.tsx";
import { Events } from "./events.tsx";
import { href, navigate, route } from "./router.ts";
import { RunDetail } from "./run_detail.tsx";
import { Runs } from "./runs.tsx";
import { Schedules } from "./schedules.tsx";
import { Link, Notice } from "./ui.tsx";
import { Workers } from "./workers.tsx";

function KeyPrompt(props: { message: string }) {
  const [key, setKey] = useState("");
  return (
    <form
      class="card key-prompt"
      onSubmit={(e) => {
        e.preventDefault();
        connect(key.trim());
      }}
    >
      <h1>Sign in</h1>
      <Notice kind="info">{props.message}</Notice>
      <label>
        API key
        <input
          type="password"
          autocomplete="current-password"
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
      </label>
      <p class="subtle">It is kept in this tab only and sent as a Bearer token.</p>
      <button type="submit" class="primary">Connect</button>
    </form>
  );
}

function Screen() {
  const path = route.value.path;
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) return <RunDetail id={decodeURIComponent(run[1])} />;
  if (path === "/workers") return <Workers />;
  if (path === "/overview") return <Overview />;
  if (path === "/schedules") return <Schedules />;
  if (path === "/events") return <Events />;
  if (path === "/" || path === "/runs") return <Runs />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page at {path}. <Link href={href("/")}>Go to the runs</Link>.
      </p>
    </section>
  );
}

function App() {
  const c = connection.value;
  const path = route.value.path;
  const ns = namespace();
  const nsq = ns === "default" ? "" : ns;
  const tab = (to: string, label: string, active: boolean) => (
    <Link href={href(to, { ns: nsq })} class={active ? "active" : ""} current={active}>
      {label}
    </Link>
  );
  return (
    <>
      <header class="top">
        <a class="brand" href={href("/")}>Kagzi</a>
        <nav aria-label="Screens">
          {tab("/", "Runs", path === "/" || path.startsWith("/runs"))}
          {tab("/overview", "Overview", path === "/overview")}
          {tab("/workers", "Workers", path === "/workers")}
          {tab("/schedules", "Schedules", path === "/schedules")}
          {tab("/events", "Events", path === "/events")}
        </nav>
        <form
          class="ns"
          onSubmit={(e) => {
            e.preventDefault();
            const value = (new FormData(e.currentTarget).get("ns") as string).trim();
            navigate(href(path === "/" || path.startsWith("/runs/") ? "/" : path, {
              ns: value === "default" ? "" : value,
            }));
          }}
        >
          <label>
            Namespace <input name="ns" value={ns} size={12} key={ns} />
          </label>
        </form>
        {c.state === "ready" && (
          <button type="button" class="link" onClick={signOut}>Sign out</button>
        )}
      </header>
      <main>
        {c.state === "connecting" && <p role="status">Connecting…</p>}
        {c.state === "needKey" && <KeyPrompt message={c.message} />}
        {c.state === "down" && (
          <div class="card">
            <Notice kind="error">Cannot reach the server: {c.message}</Notice>
            <button type="button" onClick={() => connect()}>Try again</button>
          </div>
        )}
        {c.state === "ready" && <Screen />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
connect();
