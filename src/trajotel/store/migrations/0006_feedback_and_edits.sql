-- Feedback, rewards and what people change (docs/api.md).
--
-- * feedback_data: append-only feedback rows (REST, SDK, SQL inserts); ids are deterministic, so
--   a retried request adds a copy that the views ignore (the first stored counts).
-- * evaluation_events: GenAI gen_ai.evaluation.result events (span events and log records),
--   extracted at insert by materialized views; the feedback_all view gives them their trajectory.
-- * trajectory_edits: tags, outcome, metadata and deletion set by people; one current row per
--   trajectory, applied by the views at read time, so a re-assembly never undoes it.
-- * reward_rule: how feedback becomes a trajectory's final reward (the collector writes its
--   [feedback] configuration here at start; this row is the default).
-- * trajectories_current / turns_current: the newest live version with edits and the rule
--   applied; every friendly view and the Python readers read through them.

RENAME TABLE IF EXISTS feedback TO feedback_data;

ALTER TABLE feedback_data MODIFY COLUMN Id String DEFAULT lower(hex(generateUUIDv4()));

ALTER TABLE feedback_data MODIFY COLUMN CreatedAt DateTime64(6, 'UTC') DEFAULT now64(6);

ALTER TABLE feedback_data MODIFY COLUMN Source LowCardinality(String) DEFAULT 'api';

CREATE TABLE IF NOT EXISTS evaluation_events
(
    Tenant LowCardinality(String),
    TraceId String,
    SpanId String,
    Id String,
    CreatedAt DateTime64(6, 'UTC'),
    Name String,
    Value Nullable(Float64),
    Label String,
    Comment String CODEC(ZSTD(3)),
    Source LowCardinality(String),
    Author String,
    TurnIndex Nullable(UInt32)
)
ENGINE = ReplacingMergeTree
ORDER BY (Tenant, TraceId, Id);

-- An event may say who produced it (trajotel.feedback.source, e.g. rule for a verifier, or what
-- trajotel.feedback() recorded inside a run); otherwise it is an evaluator's: llm_judge.
CREATE MATERIALIZED VIEW IF NOT EXISTS evaluation_events_from_spans TO evaluation_events AS
SELECT
    Tenant,
    TraceId,
    SpanId,
    lower(hex(sipHash128(Tenant, TraceId, SpanId, event.1, event.3))) AS Id,
    event.1 AS CreatedAt,
    event.3['gen_ai.evaluation.name'] AS Name,
    toFloat64OrNull(event.3['gen_ai.evaluation.score.value']) AS Value,
    event.3['gen_ai.evaluation.score.label'] AS Label,
    event.3['gen_ai.evaluation.explanation'] AS Comment,
    if(event.3['trajotel.feedback.source'] IN ('api', 'human', 'heuristic', 'llm_judge', 'rule'),
        event.3['trajotel.feedback.source'], 'llm_judge') AS Source,
    event.3['trajotel.feedback.author'] AS Author,
    toUInt32OrNull(event.3['trajotel.feedback.turn_index']) AS TurnIndex
FROM
(
    SELECT Tenant, TraceId, SpanId, `Events.Timestamp`, `Events.Name`, `Events.Attributes`
    FROM spans WHERE has(`Events.Name`, 'gen_ai.evaluation.result')
)
ARRAY JOIN arrayZip(`Events.Timestamp`, `Events.Name`, `Events.Attributes`) AS event
WHERE event.2 = 'gen_ai.evaluation.result';

CREATE MATERIALIZED VIEW IF NOT EXISTS evaluation_events_from_logs TO evaluation_events AS
SELECT
    Tenant,
    TraceId,
    SpanId,
    lower(hex(sipHash128(Tenant, TraceId, SpanId, Timestamp, LogAttributes))) AS Id,
    Timestamp AS CreatedAt,
    LogAttributes['gen_ai.evaluation.name'] AS Name,
    toFloat64OrNull(LogAttributes['gen_ai.evaluation.score.value']) AS Value,
    LogAttributes['gen_ai.evaluation.score.label'] AS Label,
    LogAttributes['gen_ai.evaluation.explanation'] AS Comment,
    if(LogAttributes['trajotel.feedback.source'] IN ('api', 'human', 'heuristic', 'llm_judge', 'rule'),
        LogAttributes['trajotel.feedback.source'], 'llm_judge') AS Source,
    LogAttributes['trajotel.feedback.author'] AS Author,
    toUInt32OrNull(LogAttributes['trajotel.feedback.turn_index']) AS TurnIndex
FROM logs
WHERE EventName = 'gen_ai.evaluation.result';

CREATE TABLE IF NOT EXISTS trajectory_edits
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    UpdatedAt DateTime64(6, 'UTC'),
    -- Final tags: (the run's tags unless TagsReplaced) minus TagsRemoved, plus TagsAdded.
    TagsAdded Array(String),
    TagsRemoved Array(String),
    TagsReplaced UInt8,
    -- Empty: the assembled outcome stands.
    OutcomeLabel LowCardinality(String),
    OutcomeReason String,
    MetadataSet Map(String, String),
    MetadataRemoved Array(String),
    -- Hides the trajectory and its sub-agents ({id}/...) from every view and reader.
    Deleted UInt8,
    Author String
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Tenant, TrajectoryId);

CREATE TABLE IF NOT EXISTS reward_rule
(
    Key UInt8,
    -- Feedback sources that set the reward, strongest first; "run" is the reward the run itself
    -- recorded (trajotel.reward on its root span). Sources not listed never set it.
    Sources Array(String),
    -- Among the strongest source's values: latest | mean.
    Combine LowCardinality(String),
    -- Feedback from any of these marks the trajectory human-reviewed.
    ReviewSources Array(String),
    UpdatedAt DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY Key;

INSERT INTO reward_rule (Key, Sources, Combine, ReviewSources, UpdatedAt)
VALUES (0, ['human', 'api', 'run', 'rule', 'llm_judge', 'heuristic'], 'latest', ['human'], 0);

-- Every feedback row with its trajectory: stored rows, and evaluation events placed on the turn
-- whose span they are about, else on the (sub-)agent whose root span they are about, else on the
-- trajectory of their trace.
CREATE OR REPLACE VIEW feedback_all AS
SELECT Tenant, Id, TrajectoryId, TurnIndex, Source, Value, Label, Comment, Author, CreatedAt,
    '' AS TraceId, '' AS SpanId
FROM
(
    -- A retried record (same id) counts as first stored.
    SELECT * FROM feedback_data ORDER BY CreatedAt LIMIT 1 BY Tenant, TrajectoryId, Id
)
UNION ALL
SELECT Tenant, Id, TrajectoryId, TurnIndex, Source, Value, Label, Comment, Author, CreatedAt,
    TraceId, SpanId
FROM
(
    SELECT e.Tenant AS Tenant, e.Id AS Id, o.TrajectoryId AS TrajectoryId,
        if(e.TurnIndex IS NULL, o.TurnIndex, e.TurnIndex) AS TurnIndex, e.Source AS Source,
        e.Value AS Value,
        -- Without a label of its own, an evaluation's name is its label (trajotel.feedback: none).
        multiIf(e.Label != '', e.Label, e.Name = 'trajotel.feedback', '', e.Name) AS Label, e.Comment AS Comment,
        e.Author AS Author, e.CreatedAt AS CreatedAt, e.TraceId AS TraceId, e.SpanId AS SpanId
    FROM (SELECT * FROM evaluation_events FINAL) AS e
    INNER JOIN
    (
        SELECT Tenant, TraceId, SpanId, TrajectoryId, toNullable(TurnIndex) AS TurnIndex, 1 AS Rank
        FROM turns_data FINAL
        WHERE (Tenant, TrajectoryId, Version) IN
            (SELECT Tenant, TrajectoryId, Version FROM trajectories_data FINAL WHERE IsDeleted = 0)
            AND (Tenant, TraceId) IN (SELECT Tenant, TraceId FROM evaluation_events)
        UNION ALL
        SELECT Tenant, TraceId, RootSpanId AS SpanId, TrajectoryId, CAST(NULL, 'Nullable(UInt32)'), 2
        FROM trajectories_data FINAL ARRAY JOIN TraceIds AS TraceId
        WHERE IsDeleted = 0 AND (Tenant, TraceId) IN (SELECT Tenant, TraceId FROM evaluation_events)
        UNION ALL
        SELECT Tenant, TraceId, '' AS SpanId, TrajectoryId, CAST(NULL, 'Nullable(UInt32)'), 3
        FROM trace_trajectories FINAL
        WHERE (Tenant, TraceId) IN (SELECT Tenant, TraceId FROM evaluation_events)
    ) AS o ON e.Tenant = o.Tenant AND e.TraceId = o.TraceId
    WHERE o.SpanId = e.SpanId OR o.SpanId = ''
    ORDER BY o.Rank
    LIMIT 1 BY e.Tenant, e.Id
);

-- The rule's reward per trajectory (TurnIndex NULL) and per turn, from feedback alone: the
-- values of the strongest listed source, latest or mean. Rank: the source's place in the rule.
CREATE OR REPLACE VIEW feedback_rewards AS
SELECT Tenant, TrajectoryId, TurnIndex, argMin(Combined, SourceRank) AS Value,
    argMin(Source, SourceRank) AS Source, min(SourceRank) AS Rank
FROM
(
    SELECT Tenant, TrajectoryId, TurnIndex, Source,
        indexOf((SELECT Sources FROM reward_rule FINAL LIMIT 1), Source) AS SourceRank,
        if((SELECT Combine FROM reward_rule FINAL LIMIT 1) = 'mean', avg(Value),
            argMax(Value, (CreatedAt, Id))) AS Combined
    FROM feedback_all
    WHERE Value IS NOT NULL
    GROUP BY Tenant, TrajectoryId, TurnIndex, Source
    HAVING SourceRank > 0
)
GROUP BY Tenant, TrajectoryId, TurnIndex;

-- Trajectories with feedback from a review source (rows only for those).
CREATE OR REPLACE VIEW feedback_reviews AS
SELECT Tenant, TrajectoryId, 1 AS HumanReviewed
FROM feedback_all
WHERE Source IN (SELECT arrayJoin(ReviewSources) FROM reward_rule FINAL)
GROUP BY Tenant, TrajectoryId;

-- The newest version of each trajectory that is neither retired by a merge nor deleted by people
-- (nor a sub-agent, {id}/..., of a deleted one).
CREATE OR REPLACE VIEW trajectories_live AS
SELECT *
FROM trajectories_data FINAL
WHERE IsDeleted = 0
    AND (Tenant, TrajectoryId) NOT IN (SELECT Tenant, TrajectoryId FROM trajectory_edits FINAL WHERE Deleted = 1)
    AND (Tenant, splitByChar('/', TrajectoryId)[1]) NOT IN
        (SELECT Tenant, TrajectoryId FROM trajectory_edits FINAL WHERE Deleted = 1);

-- The newest live version of each trajectory with people's edits and the reward rule applied,
-- in trajectories_data's column names (plus RunReward, RewardSource, HumanReviewed).
CREATE OR REPLACE VIEW trajectories_current AS
SELECT
    -- Columns that other joined tables share are named explicitly: with three tables or more,
    -- ClickHouse names an ambiguous column of t.* "t.Tenant", which no outer query can select.
    t.Tenant AS Tenant,
    t.TrajectoryId AS TrajectoryId,
    t.* EXCEPT (Tenant, TrajectoryId, Tags, Metadata, OutcomeLabel, OutcomeConfidence, OutcomeReasons,
        OutcomeSource, Reward),
    arrayDistinct(arrayConcat(
        arrayFilter(tag -> NOT has(e.TagsRemoved, tag), if(e.TagsReplaced = 1, [], t.Tags)),
        e.TagsAdded)) AS Tags,
    mapUpdate(mapFilter((k, v) -> NOT has(e.MetadataRemoved, k), t.Metadata), e.MetadataSet) AS Metadata,
    if(e.OutcomeLabel = '', t.OutcomeLabel, e.OutcomeLabel) AS OutcomeLabel,
    if(e.OutcomeLabel = '', t.OutcomeConfidence, 1.0) AS OutcomeConfidence,
    if(e.OutcomeLabel = '', t.OutcomeReasons, if(e.OutcomeReason = '', [], [e.OutcomeReason])) AS OutcomeReasons,
    if(e.OutcomeLabel = '', t.OutcomeSource, 'edit') AS OutcomeSource,
    t.Reward AS RunReward,
    indexOf((SELECT Sources FROM reward_rule FINAL LIMIT 1), 'run') AS RunRank,
    f.Rank > 0 AND (t.Reward IS NULL OR RunRank = 0 OR f.Rank < RunRank) AS FromFeedback,
    multiIf(FromFeedback, f.Value, RunRank > 0, t.Reward, NULL) AS Reward,
    multiIf(FromFeedback, f.Source, RunRank > 0 AND t.Reward IS NOT NULL, 'run', '') AS RewardSource,
    CAST(r.HumanReviewed = 1, 'Bool') AS HumanReviewed
FROM trajectories_live AS t
LEFT JOIN (SELECT * FROM trajectory_edits FINAL) AS e
    ON t.Tenant = e.Tenant AND t.TrajectoryId = e.TrajectoryId
LEFT JOIN (SELECT * FROM feedback_rewards WHERE TurnIndex IS NULL) AS f
    ON t.Tenant = f.Tenant AND t.TrajectoryId = f.TrajectoryId
LEFT JOIN feedback_reviews AS r ON t.Tenant = r.Tenant AND t.TrajectoryId = r.TrajectoryId;

-- Turns of every version (readers pick theirs; the turns view the live ones), each turn's reward
-- by the same rule over turn-level feedback.
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

-- The friendly views of 0003, now through the current views: edits apply, deleted ones are gone.
CREATE OR REPLACE VIEW trajectories AS
SELECT
    TrajectoryId AS trajectory_id,
    Version AS version,
    Tenant AS tenant,
    ServiceName AS service_name,
    AgentName AS agent_name,
    AgentId AS agent_id,
    Task AS task,
    Framework AS framework,
    Status AS status,
    OutcomeLabel AS outcome,
    OutcomeConfidence AS outcome_confidence,
    OutcomeReasons AS outcome_reasons,
    Reward AS reward,
    StartTime AS start_time,
    EndTime AS end_time,
    dateDiff('millisecond', StartTime, EndTime) AS duration_ms,
    TurnCount AS turn_count,
    SpanCount AS span_count,
    Models AS models,
    ToolsUsed AS tools_used,
    InputTokens AS input_tokens,
    OutputTokens AS output_tokens,
    TraceIds AS trace_ids,
    RootSpanId AS root_span_id,
    ParentTrajectoryId AS parent_trajectory_id,
    ConversationId AS conversation_id,
    Tags AS tags,
    Metadata AS metadata,
    AssembledAt AS assembled_at,
    OutcomeSource AS outcome_source,
    RunReward AS run_reward,
    RewardSource AS reward_source,
    HumanReviewed AS human_reviewed
FROM trajectories_current;

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
    length(InputMessageHashes) AS input_message_count,
    length(`ToolCalls.Id`) AS tool_call_count,
    `ToolCalls.Name` AS tool_names,
    InputMessageHashes AS input_message_hashes,
    OutputMessageHashes AS output_message_hashes,
    Reward AS reward
FROM turns_current
WHERE (Tenant, TrajectoryId, Version) IN (SELECT Tenant, TrajectoryId, Version FROM trajectories_live);

CREATE OR REPLACE VIEW tool_calls AS
SELECT
    trajectory_id,
    tenant,
    turn_index,
    call.1 AS tool_call_id,
    call.2 AS tool_name,
    call.3 AS arguments,
    call.4 AS result,
    call.5 AS status,
    call.6 AS error_type,
    call.7 AS span_id,
    if(call.9 > call.8, (call.9 - call.8) / 1e6, NULL) AS duration_ms,
    call.10 AS result_source
FROM
(
    SELECT
        TrajectoryId AS trajectory_id,
        Tenant AS tenant,
        TurnIndex AS turn_index,
        arrayJoin(arrayZip(`ToolCalls.Id`, `ToolCalls.Name`, `ToolCalls.Arguments`,
            `ToolCalls.Result`, `ToolCalls.Status`, `ToolCalls.ErrorType`, `ToolCalls.SpanId`,
            `ToolCalls.StartTime`, `ToolCalls.EndTime`, `ToolCalls.ResultSource`)) AS call
    FROM turns_data FINAL
    WHERE (Tenant, TrajectoryId, Version) IN (SELECT Tenant, TrajectoryId, Version FROM trajectories_live)
);

-- Feedback of live trajectories, for people writing SQL (insert into feedback_data).
CREATE OR REPLACE VIEW feedback AS
SELECT
    f.Id AS id,
    f.Tenant AS tenant,
    f.TrajectoryId AS trajectory_id,
    f.TurnIndex AS turn_index,
    f.Source AS source,
    f.Value AS value,
    f.Label AS label,
    f.Comment AS comment,
    f.Author AS author,
    f.CreatedAt AS created_at,
    f.TraceId AS trace_id,
    f.SpanId AS span_id
FROM feedback_all AS f
WHERE (f.Tenant, f.TrajectoryId) IN (SELECT Tenant, TrajectoryId FROM trajectories_live);
