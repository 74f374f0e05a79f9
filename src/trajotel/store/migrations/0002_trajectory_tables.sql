-- Derived tables: everything that can change when late spans, enrichment or feedback arrive.
-- Each assembly of a trajectory writes a new Version; readers see the newest through FINAL
-- (the friendly views below do that).

CREATE TABLE IF NOT EXISTS trajectories_data
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    Version UInt64,
    ServiceName LowCardinality(String),
    AgentName LowCardinality(String),
    AgentId String,
    Task String CODEC(ZSTD(3)),
    Framework LowCardinality(String),
    TraceIds Array(String),
    RootSpanId String,
    ParentTrajectoryId String,
    ConversationId String,
    StartTime DateTime64(9, 'UTC'),
    EndTime DateTime64(9, 'UTC'),
    Status LowCardinality(String),
    OutcomeLabel LowCardinality(String),
    OutcomeConfidence Float64,
    OutcomeReasons Array(String),
    OutcomeSource LowCardinality(String),
    Reward Nullable(Float64),
    Tags Array(String),
    Metadata Map(String, String),
    Models Array(LowCardinality(String)),
    ToolsUsed Array(LowCardinality(String)),
    TurnCount UInt32,
    SpanCount UInt32,
    InputTokens Nullable(Int64),
    OutputTokens Nullable(Int64),
    CacheReadInputTokens Nullable(Int64),
    CacheWriteInputTokens Nullable(Int64),
    ReasoningOutputTokens Nullable(Int64),
    SystemInstructions String CODEC(ZSTD(3)),
    ToolDefinitions String CODEC(ZSTD(3)),
    ContentHash String,
    AssembledAt DateTime64(6, 'UTC'),
    IsDeleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(Version)
PARTITION BY toYYYYMM(StartTime)
ORDER BY (Tenant, TrajectoryId);

CREATE TABLE IF NOT EXISTS turns_data
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    Version UInt64,
    TurnIndex UInt32,
    TraceId String,
    SpanId String,
    Provider LowCardinality(String),
    RequestModel LowCardinality(String),
    ResponseModel LowCardinality(String),
    ResponseId String,
    StartTime DateTime64(9, 'UTC'),
    EndTime DateTime64(9, 'UTC'),
    FinishReasons Array(LowCardinality(String)),
    InputTokens Nullable(Int64),
    OutputTokens Nullable(Int64),
    CacheReadInputTokens Nullable(Int64),
    CacheWriteInputTokens Nullable(Int64),
    ReasoningOutputTokens Nullable(Int64),
    ErrorType LowCardinality(String),
    StatusMessage String,
    Reward Nullable(Float64),
    InputMessageHashes Array(String),
    OutputMessageHashes Array(String),
    `ToolCalls.Id` Array(String),
    `ToolCalls.Name` Array(LowCardinality(String)),
    `ToolCalls.Arguments` Array(String) CODEC(ZSTD(3)),
    `ToolCalls.Result` Array(String) CODEC(ZSTD(3)),
    `ToolCalls.Status` Array(LowCardinality(String)),
    `ToolCalls.ErrorType` Array(String),
    `ToolCalls.SpanId` Array(String),
    `ToolCalls.StartTime` Array(Int64),
    `ToolCalls.EndTime` Array(Int64),
    `ToolCalls.ResultSource` Array(LowCardinality(String)),
    PromptTokenIds Array(Int64),
    OutputTokenIds Array(Int64),
    OutputLogprobs Array(Float64)
)
ENGINE = ReplacingMergeTree(Version)
PARTITION BY toYYYYMM(StartTime)
ORDER BY (Tenant, TrajectoryId, TurnIndex);

CREATE TABLE IF NOT EXISTS feedback
(
    Tenant LowCardinality(String),
    Id String,
    TrajectoryId String,
    TurnIndex Nullable(UInt32),
    Source LowCardinality(String),
    Value Nullable(Float64),
    Label String,
    Comment String CODEC(ZSTD(3)),
    Author String,
    CreatedAt DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (Tenant, TrajectoryId, Id);
