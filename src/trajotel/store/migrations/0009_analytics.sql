-- Analytics (docs/analytics.md): success rates by agent / model / tool over time, tool statistics,
-- the typical tool sequences of successful runs and the common failure patterns.
--
-- Plain views over the friendly views of 0006/0007 (trajectories, turns, tool_calls), so deleted
-- trajectories are left out and people's edits (an edited outcome) count, with nothing to refresh.
-- Only finished runs count: a running trajectory's outcome is not known yet.
--
-- Two row-level views (one row per run, one per tool call) carry what the aggregates group by.
-- Each aggregate is written once, as a parameterized view `analytics_*_filtered(tenant, agents,
-- since, until)` (the REST API and trajotel.store.analytics call it with bound values); the
-- plain `analytics_*` view is that view over everything. Parameters: tenant Nullable(String)
-- (NULL: every tenant), agents Array(String) (empty: every agent), since / until
-- Nullable(DateTime64) (NULL: unbounded) on the run's start time, since inclusive, until exclusive.

-- One row per finished run.
CREATE OR REPLACE VIEW analytics_runs AS
SELECT
    t.tenant AS tenant,
    t.trajectory_id AS trajectory_id,
    t.agent_name AS agent_name,
    t.service_name AS service_name,
    t.parent_trajectory_id AS parent_trajectory_id,
    t.start_time AS start_time,
    toDate(t.start_time) AS day,
    t.status AS status,
    t.outcome AS outcome,
    t.outcome_reasons AS outcome_reasons,
    t.reward AS reward,
    t.models AS models,
    t.tools_used AS tools_used,
    t.turn_count AS turn_count,
    s.tool_sequence AS tool_sequence,
    s.final_finish_reason AS final_finish_reason,
    s.model_error_type AS model_error_type,
    c.tool_calls AS tool_calls,
    c.tool_errors AS tool_errors,
    c.failing_tool AS failing_tool,
    c.tool_error_type AS tool_error_type,
    -- Numbers become N, so "2 of 5 tool calls failed" and "1 of 3 tool calls failed" are one
    -- pattern; a number inside a word (gpt-4o, agent2) stays.
    arrayStringConcat(
        arrayMap(r -> replaceRegexpAll(r, '\\b\\d+(\\.\\d+)?\\b', 'N'), t.outcome_reasons), '; '
    ) AS reason_pattern
FROM trajectories AS t
LEFT JOIN
(
    SELECT
        tenant,
        trajectory_id,
        -- The tools in the order the model asked for them, consecutive repeats collapsed.
        arrayCompact(arrayFlatten(arrayMap(x -> x.2, arraySort(groupArray((turn_index, tool_names))))))
            AS tool_sequence,
        argMax(finish_reasons[1], turn_index) AS final_finish_reason,
        argMaxIf(error_type, turn_index, error_type != '') AS model_error_type
    FROM turns
    GROUP BY tenant, trajectory_id
) AS s ON t.tenant = s.tenant AND t.trajectory_id = s.trajectory_id
LEFT JOIN
(
    SELECT
        tenant,
        trajectory_id,
        count() AS tool_calls,
        countIf(status = 'error') AS tool_errors,
        -- The first failed call: earliest turn, then call id (calls of one turn run together).
        argMinIf(tool_name, (turn_index, tool_call_id), status = 'error') AS failing_tool,
        argMinIf(error_type, (turn_index, tool_call_id), status = 'error') AS tool_error_type
    FROM tool_calls
    GROUP BY tenant, trajectory_id
) AS c ON t.tenant = c.tenant AND t.trajectory_id = c.trajectory_id
WHERE t.status != 'running';

-- One row per tool call of a finished run, with the run's agent, start time and outcome.
CREATE OR REPLACE VIEW analytics_tool_calls AS
SELECT
    c.tenant AS tenant,
    c.trajectory_id AS trajectory_id,
    r.agent_name AS agent_name,
    r.start_time AS start_time,
    toDate(r.start_time) AS day,
    r.outcome AS outcome,
    c.turn_index AS turn_index,
    c.tool_call_id AS tool_call_id,
    c.tool_name AS tool_name,
    c.status AS status,
    c.error_type AS error_type,
    c.duration_ms AS duration_ms,
    c.result_source AS result_source
FROM tool_calls AS c
INNER JOIN
(
    SELECT tenant, trajectory_id, agent_name, start_time, outcome FROM trajectories WHERE status != 'running'
) AS r ON c.tenant = r.tenant AND c.trajectory_id = r.trajectory_id;

-- Success rate per day and agent.
CREATE OR REPLACE VIEW analytics_success_by_agent_filtered AS
SELECT
    tenant,
    day,
    agent_name,
    count() AS runs,
    countIf(outcome = 'success') AS successes,
    countIf(outcome = 'failure') AS failures,
    countIf(outcome = 'partial') AS partials,
    runs - successes - failures - partials AS unknowns,
    successes / runs AS success_rate,
    avg(reward) AS avg_reward
FROM analytics_runs
WHERE ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, day, agent_name;

CREATE OR REPLACE VIEW analytics_success_by_agent AS
SELECT * FROM analytics_success_by_agent_filtered(tenant = NULL, agents = [], since = NULL, until = NULL);

-- Success rate per day and model: a run counts once for each model it called.
CREATE OR REPLACE VIEW analytics_success_by_model_filtered AS
SELECT
    tenant,
    day,
    model,
    count() AS runs,
    countIf(outcome = 'success') AS successes,
    countIf(outcome = 'failure') AS failures,
    countIf(outcome = 'partial') AS partials,
    runs - successes - failures - partials AS unknowns,
    successes / runs AS success_rate,
    avg(reward) AS avg_reward
FROM analytics_runs
ARRAY JOIN models AS model
WHERE ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, day, model;

CREATE OR REPLACE VIEW analytics_success_by_model AS
SELECT * FROM analytics_success_by_model_filtered(tenant = NULL, agents = [], since = NULL, until = NULL);

-- Success rate per day and tool: the runs that called the tool (once each, however often).
CREATE OR REPLACE VIEW analytics_success_by_tool_filtered AS
SELECT
    tenant,
    day,
    tool_name,
    count() AS runs,
    countIf(outcome = 'success') AS successes,
    countIf(outcome = 'failure') AS failures,
    countIf(outcome = 'partial') AS partials,
    runs - successes - failures - partials AS unknowns,
    successes / runs AS success_rate,
    avg(reward) AS avg_reward
FROM analytics_runs
ARRAY JOIN tools_used AS tool_name
WHERE ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, day, tool_name;

CREATE OR REPLACE VIEW analytics_success_by_tool AS
SELECT * FROM analytics_success_by_tool_filtered(tenant = NULL, agents = [], since = NULL, until = NULL);

-- Per tool: calls, results, error types (most common first) and durations (execute_tool spans).
CREATE OR REPLACE VIEW analytics_tool_stats_filtered AS
SELECT
    tenant,
    tool_name,
    count() AS calls,
    uniqExact(trajectory_id) AS runs,
    countIf(status = 'ok') AS ok,
    countIf(status = 'error') AS errors,
    calls - ok - errors AS pending,
    if(ok + errors = 0, NULL, errors / (ok + errors)) AS error_rate,
    CAST(
        arraySort(x -> (-x.2, x.1), arrayZip(
            mapKeys(sumMapIf(map(error_type, toUInt64(1)), status = 'error')),
            mapValues(sumMapIf(map(error_type, toUInt64(1)), status = 'error')))),
        'Array(Tuple(error_type String, calls UInt64))'
    ) AS error_types,
    count(duration_ms) AS timed_calls,
    quantileExactInclusive(0.5)(duration_ms) AS p50_duration_ms,
    quantileExactInclusive(0.95)(duration_ms) AS p95_duration_ms
FROM analytics_tool_calls
WHERE ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, tool_name;

CREATE OR REPLACE VIEW analytics_tool_stats AS
SELECT * FROM analytics_tool_stats_filtered(tenant = NULL, agents = [], since = NULL, until = NULL);

-- Per agent: the tool sequences of its successful runs, with their share of them.
CREATE OR REPLACE VIEW analytics_tool_sequences_filtered AS
SELECT
    tenant,
    agent_name,
    tool_sequence,
    length(tool_sequence) AS steps,
    count() AS runs,
    runs / sum(count()) OVER (PARTITION BY tenant, agent_name) AS share,
    avg(turn_count) AS avg_turns,
    avg(reward) AS avg_reward,
    max(start_time) AS last_seen
FROM analytics_runs
WHERE outcome = 'success'
    AND ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, agent_name, tool_sequence;

CREATE OR REPLACE VIEW analytics_tool_sequences AS
SELECT * FROM analytics_tool_sequences_filtered(tenant = NULL, agents = [], since = NULL, until = NULL);

-- Per agent: its failed and partial runs grouped by what went wrong, with the newest examples.
-- One more parameter: examples UInt32, how many example trajectory ids (newest first).
CREATE OR REPLACE VIEW analytics_failure_patterns_filtered AS
SELECT
    tenant,
    agent_name,
    arrayStringConcat(arrayFilter(part -> part != '', [
        if(failing_tool != '', concat('tool ', failing_tool, ' failed: ', tool_error_type), ''),
        if(model_error_type != '', concat('model call failed: ', model_error_type), ''),
        if(final_finish_reason != '', concat('finish reason ', final_finish_reason), ''),
        reason_pattern]), ' | ') AS pattern,
    outcome,
    failing_tool,
    tool_error_type,
    model_error_type,
    final_finish_reason,
    reason_pattern,
    count() AS runs,
    runs / sum(count()) OVER (PARTITION BY tenant, agent_name) AS share,
    max(start_time) AS last_seen,
    arrayMap(x -> x.2, groupArraySorted({examples:UInt32})((-toUnixTimestamp64Nano(start_time), trajectory_id)))
        AS example_trajectory_ids
FROM analytics_runs
WHERE outcome IN ('failure', 'partial')
    AND ({tenant:Nullable(String)} IS NULL OR tenant = {tenant:Nullable(String)})
    AND (empty({agents:Array(String)}) OR has({agents:Array(String)}, agent_name))
    AND ({since:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time >= {since:Nullable(DateTime64(9, 'UTC'))})
    AND ({until:Nullable(DateTime64(9, 'UTC'))} IS NULL OR start_time < {until:Nullable(DateTime64(9, 'UTC'))})
GROUP BY tenant, agent_name, outcome, failing_tool, tool_error_type, model_error_type, final_finish_reason,
    reason_pattern;

CREATE OR REPLACE VIEW analytics_failure_patterns AS
SELECT * FROM analytics_failure_patterns_filtered(
    tenant = NULL, agents = [], since = NULL, until = NULL, examples = 3);
