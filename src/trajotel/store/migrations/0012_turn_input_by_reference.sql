-- A turn's input by reference to the turn before it: turns_data stored every turn's whole input
-- as hashes, so a k-turn trajectory held k(k+1)/2 of them, ~870 KiB uncompressed of 1.6 MiB for
-- eight 50-turn runs (bench/storage.py). A turn now stores how many leading messages it shares
-- with the previous turn's input + output (InheritedInputCount) and the hashes of the rest, as
-- the trajectory's JSON and protobuf forms already do (inherited_input_count). Rows written
-- before this migration read InheritedInputCount = 0: their InputMessageHashes are whole.
ALTER TABLE turns_data ADD COLUMN IF NOT EXISTS InheritedInputCount UInt32 DEFAULT 0 AFTER Reward;

-- turns_current as migration 0006 defines it: its `t.*` was expanded when it was created, so it
-- is created again to carry the new column.
CREATE OR REPLACE VIEW turns_current AS
SELECT
    t.Tenant AS Tenant,
    t.TrajectoryId AS TrajectoryId,
    t.TurnIndex AS TurnIndex,
    t.* EXCEPT (Tenant, TrajectoryId, TurnIndex, Reward),
    t.Reward AS RunReward,
    indexOf((SELECT Sources FROM reward_rule FINAL LIMIT 1), 'run') AS RunRank,
    f.Rank > 0 AND (t.Reward IS NULL OR RunRank = 0 OR f.Rank < RunRank) AS FromFeedback,
    multiIf(FromFeedback, f.Value, RunRank > 0, t.Reward, NULL) AS Reward
FROM turns_data AS t FINAL
LEFT JOIN (SELECT * FROM feedback_rewards WHERE TurnIndex IS NOT NULL) AS f
    ON t.Tenant = f.Tenant AND t.TrajectoryId = f.TrajectoryId AND t.TurnIndex = f.TurnIndex;

-- The friendly view rebuilds each turn's whole input: the window collects, for each turn, the
-- (inherited count, new hashes, output hashes) of the turns up to it, and the fold replays them
-- (context = first n of the previous context, then the new input, then the output). A filter on
-- trajectory_id reaches the table through the window (it partitions by trajectory), and a query
-- that does not read input_message_hashes does not compute them. The replay costs k² hash copies
-- for the k-th turn, so reading every turn's input of a k-turn trajectory costs ~k³/3 of them
-- (timed by hand: 45 ms for a 50-turn trajectory, 150 ms for a 300-turn one, against ~40 ms for
-- its input counts, which need no replay); the Python readers rebuild in k².
CREATE OR REPLACE VIEW turns AS
SELECT
    TrajectoryId AS trajectory_id,
    Version AS version,
    Tenant AS tenant,
    TurnIndex AS turn_index,
    TraceId AS trace_id,
    SpanId AS span_id,
    Provider AS provider,
    RequestModel AS request_model,
    ResponseModel AS response_model,
    ResponseId AS response_id,
    StartTime AS start_time,
    EndTime AS end_time,
    dateDiff('millisecond', StartTime, EndTime) AS latency_ms,
    FinishReasons AS finish_reasons,
    InputTokens AS input_tokens,
    OutputTokens AS output_tokens,
    ErrorType AS error_type,
    InheritedInputCount + length(InputMessageHashes) AS input_message_count,
    length(`ToolCalls.Id`) AS tool_call_count,
    `ToolCalls.Name` AS tool_names,
    arraySlice(Context, 1, length(Context) - length(OutputMessageHashes)) AS input_message_hashes,
    OutputMessageHashes AS output_message_hashes,
    Reward AS reward
FROM
(
    SELECT
        *,
        arrayFold(
            (context, turn) -> arrayConcat(arraySlice(context, 1, turn.1), turn.2, turn.3),
            groupArray((InheritedInputCount, InputMessageHashes, OutputMessageHashes)) OVER (
                PARTITION BY Tenant, TrajectoryId, Version ORDER BY TurnIndex
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ),
            CAST([], 'Array(String)')
        ) AS Context
    FROM turns_current
    WHERE (Tenant, TrajectoryId, Version) IN (SELECT Tenant, TrajectoryId, Version FROM trajectories_live)
);
