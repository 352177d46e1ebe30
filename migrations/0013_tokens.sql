-- Tokens (ctx.token) and waits for any of several (ctx.any).
--
-- A token is a step of kind TOKEN holding its id in token_id: WAITING until someone completes it
-- (COMPLETED with the value) or fails it (FAILED), with its timeout in wake_up_at; a WAITING
-- token past its timeout is expired and takes no completion. Its callback URL carries an HMAC of
-- the namespace and id under a server secret of kagzi_token_secrets, named by the secret's id, so
-- a new secret (rotation) leaves the URLs signed with older ones valid.
--
-- A wait for any is a step of kind ANY: WAITING with its branches in `waits`
-- ({"branches": [{key, kind, name, occurrence, deadline}]}) and its earliest deadline in
-- wake_up_at, then COMPLETED or FAILED with the winner's outcome and its key in waits->>'winner'.

alter table kagzi_steps drop constraint kagzi_steps_kind_check;
alter table kagzi_steps add constraint kagzi_steps_kind_check
  check (kind in ('FUNCTION', 'SLEEP', 'SIGNAL', 'CHILD', 'TOKEN', 'ANY'));
alter table kagzi_steps add column token_id uuid, add column waits jsonb;
create unique index kagzi_steps_token on kagzi_steps (namespace_id, token_id)
  where token_id is not null;

-- Steps set aside by a resume "from here" are copied with `select s.*, now()`: the new columns go
-- before superseded_at, so the copy stays in column order.
alter table kagzi_superseded_steps rename column superseded_at to superseded_at_old;
alter table kagzi_superseded_steps add column token_id uuid, add column waits jsonb,
  add column superseded_at timestamptz not null default now();
update kagzi_superseded_steps set superseded_at = superseded_at_old;
alter table kagzi_superseded_steps drop column superseded_at_old;

-- Server-wide: the secrets token URLs are signed with; the newest signs, every one verifies.
create table kagzi_token_secrets (
  secret_id  integer     primary key,
  secret     bytea       not null,
  created_at timestamptz not null default now()
);
