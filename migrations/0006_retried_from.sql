-- RetryWorkflow: a run started from a finished one points back at it.
alter table kagzi_runs add column retried_from_run_id uuid;
