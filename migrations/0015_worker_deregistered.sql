-- A worker that deregistered (shut down) stays OFFLINE: a heartbeat it sent before deregistering
-- can reach the server after the deregistration, and a heartbeat brings a worker that was only
-- marked OFFLINE for its silence back ONLINE. Without this mark the late heartbeat revived a
-- worker that had left, until the silence sweep marked it OFFLINE again (six intervals later):
-- meanwhile its types counted as served and the worker listed as online.
alter table kagzi_workers add column deregistered_at timestamptz;
