-- A workflow id stays an idempotency key while any run under it is retained. Each run gets its
-- number under its workflow id (0 for the first); one unique index over every retained run,
-- whatever its status, makes a second "first run" impossible even when two starts race after
-- the first run ended (the loser's insert conflicts on (namespace_id, workflow_id, 0)).
-- StartWorkflow's default ("return-existing") and "fail" insert only when no run is retained
-- under the id (number 0); "allow-after-failure" / "allow-after-end", RetryWorkflow and child
-- starts insert the next number after the newest run, so two of them racing conflict on that
-- number (and on kagzi_runs_active_workflow_id, which still allows one open run per id). The
-- retention sweep deletes runs, their index entries with them: the index is as big as the
-- retained runs, and a workflow id whose runs are all deleted is free again.
alter table kagzi_runs add column id_generation int not null default 0;
update kagzi_runs r set id_generation = g.n
from (select namespace_id, run_id,
             (row_number() over (partition by namespace_id, workflow_id order by seq) - 1)::int n
      from kagzi_runs) g
where r.namespace_id = g.namespace_id and r.run_id = g.run_id and g.n > 0;
create unique index kagzi_runs_workflow_id_generation
  on kagzi_runs (namespace_id, workflow_id, id_generation);

-- GetWorkflow lists the runs RetryWorkflow started from a run (its retries and reruns).
create index kagzi_runs_retried_from on kagzi_runs (namespace_id, retried_from_run_id)
  where retried_from_run_id is not null;
