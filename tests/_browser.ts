/**
 * Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (no browser download). Tests that need it are skipped, with a message saying so, only where
 * it is not installed; `.ci/run` installs it, so CI always runs them.
 */
import { type Browser, chromium, type Page } from "playwright-core";

/** The browser binary: `KAGZI_CHROMIUM`, or Debian's `/usr/bin/chromium`. */
export const chromiumPath = Deno.env.get("KAGZI_CHROMIUM") ?? "/usr/bin/chromium";

/** Whether Chromium is installed; prints why browser tests are skipped when it is not. */
export function chromiumAvailable(): boolean {
  try {
    Deno.statSync(chromiumPath);
    return true;
  } catch {
    console.warn(
      `SKIPPED browser tests: no Chromium at ${chromiumPath} ` +
        "(apt-get install chromium, or set KAGZI_CHROMIUM)",
    );
    return false;
  }
}

/** A headless browser, closed on dispose. */
export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  return Object.assign(browser, {
    [Symbol.asyncDispose]: () => browser.close(),
  });
}

/** Collects the page's uncaught errors and console errors, to assert there are none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** Where screenshots go: `KAGZI_SCREENSHOTS`, else `test-artifacts/` (git-ignored). */
export function artifactsDir(): string {
  const dir = Deno.env.get("KAGZI_SCREENSHOTS") ??
    new URL("../test-artifacts/", import.meta.url).pathname;
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A static web server on its own port (another origin than the Kagzi server). */
export function serveStatic(files: Record<string, { type: string; body: string }>): {
  url: string;
} & AsyncDisposable {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const f = files[new URL(req.url).pathname];
    return f
      ? new Response(f.body, { headers: { "content-type": f.type } })
      : new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
