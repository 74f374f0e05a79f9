-- Vector search without scanning every vector (trajotel.store.search.vector_leg; docs/search.md).
--
-- An exact scan compares the query with all of a tenant's vectors: at 100,000 384-dimension
-- vectors that is 27-40 ms of distance arithmetic alone (reading the column is ~6 ms, FINAL a
-- few: bench/search.py and docs/benchmarks.md). A search instead ranks every vector by the
-- Hamming distance of sign-bit codes (bit i set when component i > 0; 48 bytes for 384
-- dimensions, ~10 ms for 100,000), keeps the `[search] vector_preselect` nearest and compares
-- only those exactly (cosine similarity of the stored vectors).
--
-- The re-ranking must read only the preselected vectors: `ORDER BY ... LIMIT` reads them after
-- the LIMIT (lazy materialization), but a read costs a whole granule. With the 8,192-row
-- granules of trajectory_vectors, 500 candidates touch every granule and the re-ranking cost as
-- much as the exact scan, so the vectors are copied into this table with 16-row granules and
-- 4 KB compressed blocks (one candidate reads ~12 KB, not 6 MB). The copy costs the vectors'
-- size again on disk (77 MB per 100,000 384-dimension vectors).
--
-- Filled from trajectory_vectors by the materialized view (every insert, whoever writes), and
-- backfilled from it below for stores created before this migration (duplicates of a row the
-- view also wrote are one version: ReplacingMergeTree merges them, readers use FINAL).
CREATE TABLE IF NOT EXISTS trajectory_vector_index
(
    Tenant LowCardinality(String),
    Model LowCardinality(String),
    TrajectoryId String,
    TrajectoryVersion UInt64,
    Vector Array(BFloat16),
    -- 64 sign bits per word: bit i of word j is component 64 * j + i > 0 (the last word padded
    -- with 0 bits); trajotel.store.search.sign_code computes the query's the same way.
    Code Array(UInt64) MATERIALIZED arrayMap(
        j -> toUInt64(arraySum(arrayMap(
            i -> bitShiftLeft(toUInt64(Vector[j * 64 + i + 1] > 0), i), range(least(64, length(Vector) - j * 64))))),
        range(intDiv(length(Vector) + 63, 64))),
    -- So a search can skip vectors of another size without reading them.
    Dimensions UInt32 MATERIALIZED length(Vector)
)
ENGINE = ReplacingMergeTree(TrajectoryVersion)
ORDER BY (Tenant, Model, TrajectoryId)
SETTINGS index_granularity = 16, min_compress_block_size = 4096, max_compress_block_size = 65536;

CREATE MATERIALIZED VIEW IF NOT EXISTS trajectory_vector_index_mv TO trajectory_vector_index AS
SELECT Tenant, Model, TrajectoryId, TrajectoryVersion, Vector
FROM trajectory_vectors;

INSERT INTO trajectory_vector_index (Tenant, Model, TrajectoryId, TrajectoryVersion, Vector)
SELECT Tenant, Model, TrajectoryId, TrajectoryVersion, Vector
FROM trajectory_vectors FINAL;
