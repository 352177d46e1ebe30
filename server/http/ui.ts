/**
 * The dashboard at /ui: a single-page app (server/ui/src, built by `deno task ui` into
 * server/ui/gen/assets.gen.ts) that talks to this server only through the public `kagzi.v1`
 * API. Every path under /ui/ that is not an asset gets the page, which routes in the browser.
 */
import { appCss, appJs, version } from "../ui/gen/assets.gen.ts";

const jsPath = `/ui/assets/app.${version}.js`;
const cssPath = `/ui/assets/app.${version}.css`;

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Kagzi</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${cssPath}">
<script type="module" src="${jsPath}"></script>
</head>
<body>
<div id="app"><noscript>The Kagzi dashboard needs JavaScript.</noscript></div>
</body>
</html>
`;

const common = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};
const pageHeaders = {
  ...common,
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "content-security-policy": "default-src 'self'; img-src 'self' data:; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};
const immutable = "public, max-age=31536000, immutable";

/** Whether `path` belongs to the dashboard (or is "/", which leads to it). */
export function isUiPath(path: string): boolean {
  return path === "/" || path === "/ui" || path.startsWith("/ui/");
}

/** Answers a request for a dashboard path (see {@linkcode isUiPath}). */
export function serveUi(req: Request, path: string): Response {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response(`${req.method} is not allowed on ${path}: the dashboard is read with GET`, {
      status: 405,
      headers: { ...common, allow: "GET, HEAD" },
    });
  }
  if (path === "/" || path === "/ui") {
    return new Response(null, { status: 302, headers: { location: "/ui/" } });
  }
  const body = req.method === "HEAD" ? null : undefined;
  if (path === jsPath) {
    return new Response(body ?? appJs, {
      headers: {
        ...common,
        "content-type": "text/javascript; charset=utf-8",
        "cache-control": immutable,
      },
    });
  }
  if (path === cssPath) {
    return new Response(body ?? appCss, {
      headers: { ...common, "content-type": "text/css; charset=utf-8", "cache-control": immutable },
    });
  }
  if (path.startsWith("/ui/assets/")) {
    return new Response(`No such asset: ${path}`, { status: 404, headers: common });
  }
  return new Response(body ?? page, { headers: pageHeaders });
}
