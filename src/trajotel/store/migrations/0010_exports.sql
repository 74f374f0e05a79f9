-- Dataset exports and imports (src/trajotel/export/, docs/export.md).
--
-- * export_runs: each run of a named (incremental) export; a row per state change, the newest
--   counts: writing (files being written), done (files and manifest in place), failed, reset
--   (runs up to this one no longer count: the next run starts over).
-- * export_items: the trajectory versions each run wrote. A re-run of the export leaves out
--   every (trajectory, version) a done run since the last reset wrote: only new trajectories and
--   newer versions are written again, never the same version twice.
-- * trajectory_imports: where imported trajectory versions came from (`trajotel import`).

CREATE TABLE IF NOT EXISTS export_runs
(
    Name String,
    Run UInt64,
    Status LowCardinality(String),
    -- The export's definition (format, filters, shaping) as JSON: a re-run reuses it.
    Spec String CODEC(ZSTD(3)),
    -- Final paths of the run's files, its manifest last.
    Files Array(String),
    Manifest String CODEC(ZSTD(3)),
    Trajectories UInt64,
    Records UInt64,
    Error String,
    StartedAt DateTime64(6, 'UTC'),
    UpdatedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY (Name, Run);

CREATE TABLE IF NOT EXISTS export_items
(
    Name String,
    Run UInt64,
    Tenant LowCardinality(String),
    TrajectoryId String,
    Version UInt64,
    AssembledAt DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (Name, Tenant, TrajectoryId, Version, Run);

CREATE TABLE IF NOT EXISTS trajectory_imports
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    Version UInt64,
    -- The import format (trajotel, openai-chat, trae) and the file (and line or entry) read.
    Format LowCardinality(String),
    Source String,
    ImportedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY (Tenant, TrajectoryId, Version);

-- Named exports, newest state of each run, for people writing SQL.
CREATE OR REPLACE VIEW exports AS
SELECT
    Name AS name,
    Run AS run,
    Status AS status,
    Trajectories AS trajectories,
    Records AS records,
    Files AS files,
    Error AS error,
    StartedAt AS started_at,
    UpdatedAt AS updated_at
FROM export_runs FINAL;

CREATE OR REPLACE VIEW imports AS
SELECT
    Tenant AS tenant,
    TrajectoryId AS trajectory_id,
    Version AS version,
    Format AS format,
    Source AS source,
    ImportedAt AS imported_at
FROM trajectory_imports FINAL;
