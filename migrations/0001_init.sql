-- Kagzi schema v1. Every table is keyed by namespace_id first, so it can become a
-- distribution key. Append new migrations as new files; never edit a shipped one.

create table kagzi_runs (
  namespace_id   text        not null,
  run_id         uuid        not null,
  seq            bigint      generated always as identity,
  workflow_id    text        not null,
  workflow_type  text        not null,
  version        text        not null default '',
  status         text        not null check (status in
                   ('PENDING', 'RUNNING', 'SLEEPING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  attempt        integer     not null default 1,
  fence          bigint      not null default 0,
  worker_id      text,
  locked_until   timestamptz,
  available_at   timestamptz not null default now(),
  wake_up_at     timestamptz,
  deadline_at    timestamptz,
  retry_policy   jsonb,
  error          jsonb,
  schedule_id    text,
  created_at     timestamptz not null default now(),
  started_at     timestamptz,
  finished_at    timestamptz,
  updated_at     timestamptz not null default now(),
  primary key (namespace_id, run_id)
);

-- The idempotency key: one non-terminal run per workflow_id and namespace.
create unique index kagzi_runs_active_workflow_id on kagzi_runs (namespace_id, workflow_id)
  where status in ('PENDING', 'RUNNING', 'SLEEPING');
-- The claim: due runs of a type and version, oldest first. Sleepers sort by wake-up time,
-- so a large sleeping backlog is never scanned.
create index kagzi_runs_claim on kagzi_runs (namespace_id, workflow_type, version, available_at)
  where status in ('PENDING', 'SLEEPING');
create index kagzi_runs_due on kagzi_runs (available_at) where status in ('PENDING', 'SLEEPING');
create index kagzi_runs_leases on kagzi_runs (locked_until) where status = 'RUNNING';
create index kagzi_runs_deadline on kagzi_runs (deadline_at)
  where deadline_at is not null and status in ('PENDING', 'RUNNING', 'SLEEPING');
create index kagzi_runs_list on kagzi_runs (namespace_id, seq);
create index kagzi_runs_workflow_id on kagzi_runs (namespace_id, workflow_id, seq);
create index kagzi_runs_worker on kagzi_runs (namespace_id, worker_id) where status = 'RUNNING';

-- Input, output and context values, kept out of the hot run rows.
create table kagzi_payloads (
  namespace_id text  not null,
  run_id       uuid  not null,
  kind         text  not null check (kind in ('input', 'output', 'context')),
  data         bytea not null,
  metadata     jsonb not null default '{}',
  primary key (namespace_id, run_id, kind)
);

-- One row per attempt of a step; a step's identity is (kind, name, occurrence).
create table kagzi_steps (
  namespace_id    text        not null,
  run_id          uuid        not null,
  kind            text        not null check (kind in ('FUNCTION', 'SLEEP')),
  name            text        not null,
  occurrence      integer     not null,
  attempt         integer     not null,
  status          text        not null check (status in
                    ('RUNNING', 'COMPLETED', 'FAILED', 'SLEEPING')),
  output          bytea,
  output_metadata jsonb,
  error           jsonb,
  worker_id       text,
  output_size     integer     not null default 0,
  started_at      timestamptz not null default now(),
  finished_at     timestamptz,
  retry_at        timestamptz,
  wake_up_at      timestamptz,
  primary key (namespace_id, run_id, kind, name, occurrence, attempt)
);

-- A step's output is stored once.
create unique index kagzi_steps_completed_once on kagzi_steps
  (namespace_id, run_id, kind, name, occurrence) where status = 'COMPLETED';

create table kagzi_workers (
  namespace_id         text        not null,
  worker_id            uuid        not null,
  workflow_types       jsonb       not null,
  hostname             text        not null default '',
  pid                  integer     not null default 0,
  sdk_version          text        not null default '',
  version              text        not null default '',
  labels               jsonb       not null default '{}',
  max_concurrent       integer     not null default 0,
  default_retry_policy jsonb,
  status               text        not null check (status in ('ONLINE', 'DRAINING', 'OFFLINE')),
  active_count         integer     not null default 0,
  completed_count      bigint      not null default 0,
  failed_count         bigint      not null default 0,
  registered_at        timestamptz not null default now(),
  last_heartbeat_at    timestamptz not null default now(),
  primary key (namespace_id, worker_id)
);
create index kagzi_workers_heartbeat on kagzi_workers (last_heartbeat_at) where status <> 'OFFLINE';

create table kagzi_schedules (
  namespace_id   text        not null,
  schedule_id    text        not null,
  workflow_type  text        not null,
  cron           text        not null,
  timezone       text        not null default '',
  input          bytea,
  input_metadata jsonb,
  version        text        not null default '',
  enabled        boolean     not null default true,
  max_catchup    integer     not null default 0,
  next_fire_at   timestamptz,
  last_fired_at  timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  primary key (namespace_id, schedule_id)
);
create index kagzi_schedules_due on kagzi_schedules (next_fire_at) where enabled;

create table kagzi_default_versions (
  namespace_id  text        not null,
  workflow_type text        not null,
  version       text        not null,
  updated_at    timestamptz not null default now(),
  primary key (namespace_id, workflow_type)
);
