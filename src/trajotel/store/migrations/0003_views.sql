-- Friendly views for people writing SQL. Each shows the newest version of each trajectory.

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
    AssembledAt AS assembled_at
FROM trajectories_data FINAL
WHERE IsDeleted = 0;

CREATE OR REPLACE VIEW turns AS
SELECT
    t.TrajectoryId AS trajectory_id,
    t.Version AS version,
    t.Tenant AS tenant,
    t.TurnIndex AS turn_index,
    t.TraceId AS trace_id,
    t.SpanId AS span_id,
    t.Provider AS provider,
    t.RequestModel AS request_model,
    t.ResponseModel AS response_model,
    t.ResponseId AS response_id,
    t.StartTime AS start_time,
    t.EndTime AS end_time,
    dateDiff('millisecond', t.StartTime, t.EndTime) AS latency_ms,
    t.FinishReasons AS finish_reasons,
    t.InputTokens AS input_tokens,
    t.OutputTokens AS output_tokens,
    t.ErrorType AS error_type,
    length(t.InputMessageHashes) AS input_message_count,
    length(t.`ToolCalls.Id`) AS tool_call_count,
    t.`ToolCalls.Name` AS tool_names,
    t.InputMessageHashes AS input_message_hashes,
    t.OutputMessageHashes AS output_message_hashes,
    t.Reward AS reward
FROM turns_data AS t FINAL
INNER JOIN
(
    SELECT Tenant, TrajectoryId, Version FROM trajectories_data FINAL WHERE IsDeleted = 0
) AS cur ON t.Tenant = cur.Tenant AND t.TrajectoryId = cur.TrajectoryId AND t.Version = cur.Version;

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
        t.TrajectoryId AS trajectory_id,
        t.Tenant AS tenant,
        t.TurnIndex AS turn_index,
        arrayJoin(arrayZip(t.`ToolCalls.Id`, t.`ToolCalls.Name`, t.`ToolCalls.Arguments`,
            t.`ToolCalls.Result`, t.`ToolCalls.Status`, t.`ToolCalls.ErrorType`, t.`ToolCalls.SpanId`,
            t.`ToolCalls.StartTime`, t.`ToolCalls.EndTime`, t.`ToolCalls.ResultSource`)) AS call
    FROM turns_data AS t FINAL
    INNER JOIN
    (
        SELECT Tenant, TrajectoryId, Version FROM trajectories_data FINAL WHERE IsDeleted = 0
    ) AS cur ON t.Tenant = cur.Tenant AND t.TrajectoryId = cur.TrajectoryId AND t.Version = cur.Version
);

CREATE OR REPLACE VIEW llm_calls AS
SELECT
    Tenant AS tenant,
    TraceId AS trace_id,
    SpanId AS span_id,
    ParentSpanId AS parent_span_id,
    ServiceName AS service_name,
    SpanName AS span_name,
    Dialect AS dialect,
    Operation AS operation,
    Provider AS provider,
    RequestModel AS request_model,
    ResponseModel AS response_model,
    ResponseId AS response_id,
    Timestamp AS start_time,
    Duration / 1e6 AS latency_ms,
    InputTokens AS input_tokens,
    OutputTokens AS output_tokens,
    FinishReasons AS finish_reasons,
    StatusCode AS status_code,
    ErrorType AS error_type,
    ConversationId AS conversation_id,
    InputMessageHashes AS input_message_hashes,
    OutputMessageHashes AS output_message_hashes
FROM spans
WHERE Operation IN ('chat', 'text_completion', 'generate_content')
-- An exporter may re-send a batch after a crash: show each span once.
LIMIT 1 BY Tenant, TraceId, SpanId;
