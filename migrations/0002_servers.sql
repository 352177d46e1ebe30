-- Live server replicas, so a server sends NOTIFY only when another server can hear it.
-- Cluster-wide (not tenant data), hence no namespace_id.
create table kagzi_servers (
  server_id    uuid        primary key,
  started_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);
