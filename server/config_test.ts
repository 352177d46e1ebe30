import assert from "node:assert/strict";
import { type ConfigError, defaults, loadConfig } from "./config.ts";

Deno.test("loadConfig() uses the defaults when nothing is set", () => {
  assert.deepEqual(loadConfig({}, []), defaults);
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
