-- Enrichment results (src/trajotel/enrich/, docs/enrichment.md).
--
-- Append-only: every run of a stage on a trajectory version adds a row, failures too (Error set),
-- so nothing a stage produced is ever overwritten and re-runs (a newer trajectory version, a new
-- stage version, --force) keep the history. Readers want the latest successful row per
-- (trajectory, stage): the `enrichments_latest` view.
CREATE TABLE IF NOT EXISTS enrichments
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    TrajectoryVersion UInt64,
    Stage LowCardinality(String),
    StageVersion LowCardinality(String),
    Result String CODEC(ZSTD(3)),  -- the stage's JSON object (shape documented per stage)
    Score Nullable(Float64),  -- in [0, 1]
    Label LowCardinality(String),
    Summary String CODEC(ZSTD(3)),
    InputTokens UInt64,
    OutputTokens UInt64,
    CostUsd Float64,
    Error String,  -- non-empty: the stage failed for this trajectory version (retried later)
    CreatedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = MergeTree
ORDER BY (Tenant, TrajectoryId, Stage, TrajectoryVersion, CreatedAt);

-- The latest successful result of each stage for each trajectory: newest trajectory version
-- first, then the newest run (a new stage version or a forced re-run wins over older rows).
CREATE OR REPLACE VIEW enrichments_latest AS
SELECT
    Tenant AS tenant,
    TrajectoryId AS trajectory_id,
    Stage AS stage,
    argMax(TrajectoryVersion, (TrajectoryVersion, CreatedAt)) AS trajectory_version,
    argMax(StageVersion, (TrajectoryVersion, CreatedAt)) AS stage_version,
    argMax(Result, (TrajectoryVersion, CreatedAt)) AS result,
    argMax(Score, (TrajectoryVersion, CreatedAt)) AS score,
    argMax(Label, (TrajectoryVersion, CreatedAt)) AS label,
    argMax(Summary, (TrajectoryVersion, CreatedAt)) AS summary,
    max(CreatedAt) AS created_at
FROM enrichments
WHERE Error = ''
GROUP BY Tenant, TrajectoryId, Stage;

-- One row per trajectory with its scores by stage: `score` is the judge's when there is one,
-- else the heuristic stage's. Only trajectories visible in `trajectories` appear.
CREATE OR REPLACE VIEW trajectory_scores AS
SELECT
    e.tenant AS tenant,
    e.trajectory_id AS trajectory_id,
    anyIf(e.score, e.stage = 'judge') AS judge_score,
    anyIf(e.score, e.stage = 'heuristic') AS heuristic_score,
    anyIf(e.score, e.stage = 'group') AS group_score,
    coalesce(judge_score, heuristic_score) AS score,
    if(judge_score IS NOT NULL, 'judge', if(heuristic_score IS NOT NULL, 'heuristic', '')) AS score_source,
    anyIf(e.label, e.stage = 'judge') AS judge_outcome,
    anyIf(e.label, e.stage = 'heuristic') AS heuristic_outcome,
    anyIf(e.summary, e.stage = 'judge') AS summary
FROM enrichments_latest AS e
WHERE (e.tenant, e.trajectory_id) IN (SELECT tenant, trajectory_id FROM trajectories)
GROUP BY e.tenant, e.trajectory_id;

-- The judge's decisions, one row each (type: tool_selection | reasoning | branching | backtrack |
-- delegation | sequencing).
CREATE OR REPLACE VIEW decisions AS
SELECT
    e.tenant AS tenant,
    e.trajectory_id AS trajectory_id,
    e.trajectory_version AS trajectory_version,
    e.stage_version AS stage_version,
    JSONExtractInt(d, 'turn_index') AS turn_index,
    JSONExtractString(d, 'type') AS type,
    JSONExtractString(d, 'reasoning') AS reasoning,
    JSONExtract(d, 'alternatives', 'Array(String)') AS alternatives,
    JSONExtractString(d, 'chosen_action') AS chosen_action,
    JSONExtractFloat(d, 'confidence') AS confidence
FROM enrichments_latest AS e
ARRAY JOIN JSONExtractArrayRaw(e.result, 'decisions') AS d
WHERE e.stage = 'judge';

-- The entities the judge found (people, files, APIs, ...), one row each; `relations` are JSON
-- objects {"target": ..., "relation": ...}.
CREATE OR REPLACE VIEW entities AS
SELECT
    e.tenant AS tenant,
    e.trajectory_id AS trajectory_id,
    e.trajectory_version AS trajectory_version,
    JSONExtractString(x, 'name') AS name,
    JSONExtractString(x, 'type') AS type,
    JSONExtractInt(x, 'first_turn') AS first_turn,
    JSONExtractFloat(x, 'importance') AS importance,
    JSONExtractArrayRaw(x, 'relations') AS relations
FROM enrichments_latest AS e
ARRAY JOIN JSONExtractArrayRaw(e.result, 'entities') AS x
WHERE e.stage = 'judge';

-- What enrichment cost, per stage, stage version and day (failed attempts included).
CREATE OR REPLACE VIEW enrichment_costs AS
SELECT
    Tenant AS tenant,
    Stage AS stage,
    StageVersion AS stage_version,
    toDate(CreatedAt) AS day,
    count() AS runs,
    countIf(Error != '') AS failures,
    sum(InputTokens) AS input_tokens,
    sum(OutputTokens) AS output_tokens,
    sum(CostUsd) AS cost_usd
FROM enrichments
GROUP BY tenant, stage, stage_version, day;
