-- Events and hooks.
--
-- A workflow type's event subscriptions, declared in its definition and stored when a worker
-- registers it (a registration that declares triggers replaces the type's set). An emit starts
-- one run of each type subscribed at that moment.
create table kagzi_event_subscriptions (
  namespace_id  text        not null,
  event_name    text        not null,
  workflow_type text        not null,
  created_at    timestamptz not null default now(),
  primary key (namespace_id, event_name, workflow_type)
);
create index kagzi_event_subscriptions_type
  on kagzi_event_subscriptions (namespace_id, workflow_type);

-- One row per emitted event, keyed by its id: a second emit with the id finds this row and
-- starts nothing. `runs` ([{workflow_type, run_id, workflow_id}]) is written in the transaction
-- that stores the row and starts the runs.
create table kagzi_events (
  namespace_id  text        not null,
  event_name    text        not null,
  event_id      text        not null,
  seq           bigint      generated always as identity,
  data          bytea       not null,
  metadata      jsonb       not null default '{}',
  runs          jsonb       not null default '[]',
  created_at    timestamptz not null default now(),
  primary key (namespace_id, event_name, event_id)
);
-- ListEvents: newest first, per namespace (and name).
create index kagzi_events_recent on kagzi_events (namespace_id, seq desc);

-- Webhook endpoints: POST /v1/hooks/{namespace}/{name} starts a run of workflow_type, or emits
-- event_name, when the body is signed with `secret` (HMAC-SHA256). The secret is read only by
-- the endpoint's check; listings return a hint (a digest prefix), never the secret.
create table kagzi_hooks (
  namespace_id  text        not null,
  name          text        not null,
  workflow_type text,
  event_name    text,
  secret        bytea       not null,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  primary key (namespace_id, name),
  check ((workflow_type is null) <> (event_name is null))
);
