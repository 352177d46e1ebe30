-- Retention: finished runs are deleted some time after they finish (server/engine/retention.ts).
-- The sweeper walks this index per namespace, oldest first, so it reads only runs it deletes
-- (and one entry per namespace to find the namespaces).
create index kagzi_runs_finished on kagzi_runs (namespace_id, finished_at)
  where status in ('COMPLETED', 'FAILED', 'CANCELLED');
