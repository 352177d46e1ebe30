import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { postgresUrlFromPgEnv } from "./serverless_config.ts";

const url = "postgres://u:p@db.example:5432/kagzi";

Deno.test("DENO_DEPLOY=true selects serverless mode with its defaults", () => {
  const c = loadConfig({ DENO_DEPLOY: "true", DATABASE_URL: url });
  assert.equal(c.serverless, true);
  assert.equal(c.migrate, false, "migrations run in the pre-deploy command");
  assert.equal(c.grpcPort, 0);
  assert.equal(c.host, "0.0.0.0");
  assert.equal(c.port, 8000);
  assert.equal(c.poolSize, 4);
  assert.equal(c.pollTimeoutMs, 25_000);
  assert.equal(c.maxWaitMs, 25_000);
  assert.equal(loadConfig({ DENO_DEPLOY: "true", DATABASE_URL: url, PORT: "9000" }).port, 9000);
});

Deno.test("--serverless and KAGZI_SERVERLESS choose the mode; flags and variables still win", () => {
  assert.equal(loadConfig({ DATABASE_URL: url }, ["--serverless"]).serverless, true);
  assert.equal(loadConfig({ DATABASE_URL: url, KAGZI_SERVERLESS: "1" }).serverless, true);
  assert.equal(loadConfig({ DENO_DEPLOY: "true", KAGZI_SERVERLESS: "false" }).serverless, false);
  const c = loadConfig({ DENO_DEPLOY: "true", DATABASE_URL: url, KAGZI_MAX_WAIT_MS: "20000" }, [
    "--migrate",
    "--port",
    "7000",
  ]);
  assert.deepEqual([c.migrate, c.port, c.maxWaitMs], [true, 7000, 20_000]);
  assert.equal(loadConfig({}).serverless, false);
  assert.equal(loadConfig({}).migrate, true);
  assert.throws(() => loadConfig({ KAGZI_MIGRATE: "maybe" }), /KAGZI_MIGRATE: "maybe" is not/);
});

Deno.test("serverless mode without a Postgres, or with native gRPC, is refused clearly", () => {
  assert.throws(
    () => loadConfig({ DENO_DEPLOY: "true" }),
    /needs a Postgres: set DATABASE_URL .*the embedded database cannot be used/,
  );
  assert.throws(
    () => loadConfig({ DENO_DEPLOY: "true", DATABASE_URL: url }, ["--grpc-port", "50052"]),
    /--grpc-port \/ KAGZI_GRPC_PORT: "50052": native gRPC needs a node:http2 listener/,
  );
});

Deno.test("serverless mode builds its database URL from the PG* variables", () => {
  const env = {
    PGHOST: "db.example",
    PGPORT: "6543",
    PGUSER: "app user",
    PGPASSWORD: "p@ss/word",
    PGDATABASE: "kagzi",
    PGSSLMODE: "require",
  };
  assert.equal(
    postgresUrlFromPgEnv(env),
    "postgres://app%20user:p%40ss%2Fword@db.example:6543/kagzi?sslmode=require",
  );
  assert.equal(loadConfig({ ...env, DENO_DEPLOY: "true" }).databaseUrl, postgresUrlFromPgEnv(env));
  assert.equal(
    loadConfig({ ...env, DENO_DEPLOY: "true", DATABASE_URL: url }).databaseUrl,
    url,
    "DATABASE_URL wins",
  );
  assert.equal(loadConfig(env).databaseUrl, "", "a long-running server ignores PG*");
  assert.equal(postgresUrlFromPgEnv({ PGHOST: "/var/run/postgresql" }), "");
  assert.equal(postgresUrlFromPgEnv({ PGHOST: "::1" }), "postgres://postgres@[::1]/postgres");
});
