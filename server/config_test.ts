import assert from "node:assert/strict";
import { type ConfigError, defaults, loadConfig } from "./config.ts";

Deno.test("loadConfig() uses the defaults when nothing is set", () => {
  // Written out (as the README's configuration table states them), not read from `defaults`.
  const expected = {
    host: "127.0.0.1",
    port: 50051,
    grpcPort: 50052,
    databaseUrl: "",
    dataDir: "./.kagzi",
    logLevel: "info",
    corsOrigins: ["*"],
    pollTimeoutMs: 30_000,
    leaseMs: 30_000,
    heartbeatIntervalMs: 5_000,
    tickIntervalMs: 1_000,
    bulkBatchSize: 200,
    bulkPauseMs: 20,
    poolSize: 10,
    apiKeys: [],
    maxPendingSignals: 1000,
    publicUrl: "",
    metrics: true,
    serverless: false,
    migrate: true,
    maxWaitMs: 60_000,
    retentionMs: 7 * 86_400_000,
    retentionByNamespace: {},
  };
  assert.deepEqual(loadConfig({}, []), expected);
  assert.deepEqual(defaults, expected);
});

Deno.test("loadConfig() lets flags win over the environment", () => {
  const c = loadConfig({ KAGZI_PORT: "6000", KAGZI_HOST: "0.0.0.0" }, ["--port", "7000"]);
  assert.equal(c.port, 7000);
  assert.equal(c.host, "0.0.0.0");
});

Deno.test("loadConfig() reads every setting from flags and environment", () => {
  const c = loadConfig({ DATABASE_URL: "postgres://x@h/db", KAGZI_LOG_LEVEL: "debug" }, [
    "--grpc-port=0",
    "--data-dir",
    "/tmp/k",
    "--cors-origins",
    "https://a.example, https://b.example",
  ]);
  assert.equal(c.grpcPort, 0);
  assert.equal(c.databaseUrl, "postgres://x@h/db");
  assert.equal(c.dataDir, "/tmp/k");
  assert.equal(c.logLevel, "debug");
  assert.deepEqual(c.corsOrigins, ["https://a.example", "https://b.example"]);
});

Deno.test("loadConfig() names the setting and value it rejects", () => {
  assert.throws(
    () => loadConfig({ KAGZI_PORT: "http" }),
    (e: ConfigError) => /--port \/ KAGZI_PORT: "http"/.test(e.message),
  );
  assert.throws(() => loadConfig({}, ["--port", "70000"]), /0 to 65535/);
  assert.throws(() => loadConfig({ KAGZI_LOG_LEVEL: "loud" }), /KAGZI_LOG_LEVEL: "loud"/);
  assert.throws(() => loadConfig({ DATABASE_URL: "mysql://x" }), /DATABASE_URL/);
  assert.throws(() => loadConfig({}, ["--bogus", "1"]), /Invalid command line/);
});

Deno.test("loadConfig() refuses a lease that two heartbeats do not fit in", () => {
  assert.throws(
    () => loadConfig({}, ["--lease-ms", "1000", "--heartbeat-interval-ms", "5000"]),
    /--heartbeat-interval-ms \/ KAGZI_HEARTBEAT_INTERVAL_MS: 5000 ms is more than half of --lease-ms/,
  );
  assert.throws(() => loadConfig({ KAGZI_LEASE_MS: "9000" }), /more than half of --lease-ms/);
  const c = loadConfig({}, ["--lease-ms", "1000", "--heartbeat-interval-ms", "500"]);
  assert.equal(c.leaseMs, 1000);
});

Deno.test("loadConfig() reads API keys and rejects ones that cannot travel in a header", () => {
  const keys = loadConfig({ KAGZI_API_KEYS: "k1-0123456789abcdef, k2-0123456789abcdef" }).apiKeys;
  assert.deepEqual(keys, [
    { key: "k1-0123456789abcdef", namespaces: "*", admin: true },
    { key: "k2-0123456789abcdef", namespaces: "*", admin: true },
  ]);
  assert.throws(() => loadConfig({}, ["--api-keys", "short"]), /--api-keys \/ KAGZI_API_KEYS/);
  assert.throws(
    () => loadConfig({ KAGZI_API_KEYS: "has a space in it 0123456789" }),
    /KAGZI_API_KEYS: each key must be 16 to 512 printable ASCII/,
  );
});

Deno.test("loadConfig() reads namespace-scoped API keys next to plain ones", () => {
  const keys = (raw: string) => loadConfig({}, ["--api-keys", raw]).apiKeys;
  assert.deepEqual(keys("k1-0123456789abcdef=orders, billing;k2-0123456789abcdef=*"), [
    { key: "k1-0123456789abcdef", namespaces: ["orders", "billing"], admin: false },
    { key: "k2-0123456789abcdef", namespaces: "*", admin: true },
  ]);
  // One scoped entry alone; a plain key among scoped ones covers everything.
  assert.deepEqual(keys("k1-0123456789abcdef=default"), [
    { key: "k1-0123456789abcdef", namespaces: ["default"], admin: false },
  ]);
  assert.deepEqual(keys("k1-0123456789abcdef; k2-0123456789abcdef=a"), [
    { key: "k1-0123456789abcdef", namespaces: "*", admin: true },
    { key: "k2-0123456789abcdef", namespaces: ["a"], admin: false },
  ]);
  // Base64 padding stays part of a plain key; a key with "=" is scoped at its last "=".
  assert.deepEqual(keys("a2FnemkgdGVzdCBrZXkgb25l=="), [
    { key: "a2FnemkgdGVzdCBrZXkgb25l==", namespaces: "*", admin: true },
  ]);
  assert.deepEqual(keys("a2FnemkgdGVzdCBrZXkgb25l===orders"), [
    { key: "a2FnemkgdGVzdCBrZXkgb25l==", namespaces: ["orders"], admin: false },
  ]);
  assert.throws(() => keys("k1,k2-0123456789abcdef=orders"), /without spaces, commas/);
  assert.throws(() => keys("k1-0123456789abcdef=a;k1-0123456789abcdef=b"), /listed twice/);
  assert.throws(() => keys("k1-0123456789abcdef=bad name;"), /each key must be/);
});

Deno.test("loadConfig() reads retention as a duration, off, and per namespace", () => {
  assert.equal(loadConfig({}).retentionMs, 7 * 86_400_000);
  assert.equal(loadConfig({ KAGZI_RETENTION: "12h" }).retentionMs, 43_200_000);
  assert.equal(loadConfig({}, ["--retention", "1h30m"]).retentionMs, 5_400_000);
  assert.equal(loadConfig({}, ["--retention", "off"]).retentionMs, 0);
  assert.equal(loadConfig({}, ["--retention", "0"]).retentionMs, 0);
  // The SDK's grammar: words as well as letters.
  assert.equal(loadConfig({}, ["--retention", "2 weeks"]).retentionMs, 14 * 86_400_000);
  assert.equal(loadConfig({}, ["--retention", "1 day 12 hours"]).retentionMs, 36 * 3_600_000);
  assert.equal(loadConfig({}, ["--retention", "1 day"]).retentionMs, 86_400_000);
  assert.equal(loadConfig({ KAGZI_RETENTION: "2 weeks" }).retentionMs, 14 * 86_400_000);
  assert.equal(loadConfig({}, ["--retention", "1 hour 30 minutes"]).retentionMs, 5_400_000);
  assert.deepEqual(
    loadConfig({ KAGZI_RETENTION_NAMESPACES: "orders=30d, tmp=1h,keep=off" }).retentionByNamespace,
    { orders: 30 * 86_400_000, tmp: 3_600_000, keep: 0 },
  );
  assert.throws(() => loadConfig({}, ["--retention", "7 days please"]), /--retention \/ KAGZI/);
  assert.throws(() => loadConfig({}, ["--retention", "500ms"]), /from 1s to 100 years/);
  assert.throws(
    () => loadConfig({}, ["--retention-namespaces", "orders:30d"]),
    /--retention-namespaces \/ KAGZI_RETENTION_NAMESPACES: "orders:30d" is not <namespace>=/,
  );
  assert.throws(
    () => loadConfig({}, ["--retention-namespaces", "tmp=soon"]),
    /for namespace "tmp": "soon" is not a duration/,
  );
});

Deno.test("loadConfig() reads --metrics / KAGZI_METRICS as true or false", () => {
  assert.equal(loadConfig({}, []).metrics, true);
  assert.equal(loadConfig({ KAGZI_METRICS: "off" }, []).metrics, false);
  assert.equal(loadConfig({ KAGZI_METRICS: "false" }, ["--metrics"]).metrics, true);
  assert.equal(loadConfig({ KAGZI_METRICS: "true" }, ["--no-metrics"]).metrics, false);
  assert.throws(
    () => loadConfig({ KAGZI_METRICS: "maybe" }, []),
    (e: ConfigError) => /--metrics \/ KAGZI_METRICS: "maybe" is not true or false/.test(e.message),
  );
});

Deno.test("loadConfig() reads --public-url / KAGZI_PUBLIC_URL and rejects what is not a base URL", () => {
  assert.equal(
    loadConfig({ KAGZI_PUBLIC_URL: "https://kagzi.example.com" }).publicUrl,
    "https://kagzi.example.com",
  );
  assert.equal(
    loadConfig({}, ["--public-url", "http://10.0.0.5:8080/kagzi"]).publicUrl,
    "http://10.0.0.5:8080/kagzi",
  );
  for (const bad of ["kagzi.example.com", "ftp://x", "https://x/?a=1", "https://x/#f"]) {
    assert.throws(
      () => loadConfig({ KAGZI_PUBLIC_URL: bad }),
      (e: ConfigError) => /--public-url \/ KAGZI_PUBLIC_URL/.test(e.message),
      bad,
    );
  }
});
