-- W3C trace context (`traceparent`) of the start that created a run, so the worker's
-- execution and steps join the caller's trace. Null when the caller sent none.
alter table kagzi_runs add column traceparent text;
