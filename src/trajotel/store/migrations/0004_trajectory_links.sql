-- Which traces make one trajectory (trajotel.assemble.linking): content-hash keys that let a
-- flat model-call trace find the trajectory it continues with index lookups, and each trace's
-- current trajectory.

CREATE TABLE IF NOT EXISTS trajectory_links
(
    Tenant LowCardinality(String),
    Key String,
    -- context: a model call's input + output; prefix: a leading run of a trace's first input;
    -- conversation / response: a gen_ai.conversation.id / gen_ai.response.id.
    Kind LowCardinality(String),
    TraceId String,
    WrittenAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY (Tenant, Key, Kind, TraceId);

CREATE TABLE IF NOT EXISTS trace_trajectories
(
    Tenant LowCardinality(String),
    TraceId String,
    TrajectoryId String,
    UpdatedNs UInt64
)
ENGINE = ReplacingMergeTree(UpdatedNs)
ORDER BY (Tenant, TraceId);

CREATE OR REPLACE VIEW trajectory_traces AS
SELECT Tenant AS tenant, TraceId AS trace_id, TrajectoryId AS trajectory_id
FROM trace_trajectories FINAL;
