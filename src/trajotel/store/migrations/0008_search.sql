-- Search: a keyword index that needs no model, and embedding vectors (src/trajotel/enrich/embed.py
-- fills both, src/trajotel/enrich/search.py reads them; docs/search.md).
--
-- One row per trajectory, replaced when the trajectory's newer version is indexed again
-- (ReplacingMergeTree by the trajectory version; readers use FINAL). Deleted trajectories are
-- not removed here: search reads ids through the `trajectories` view, which hides them.

-- The text a keyword search matches: task, judge summary, final answer, tool names, agent name
-- (what the `keywords` stage indexes).
CREATE TABLE IF NOT EXISTS trajectory_search_text
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    TrajectoryVersion UInt64,
    Text String CODEC(ZSTD(3)),
    IndexedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(TrajectoryVersion)
ORDER BY (Tenant, TrajectoryId);

-- An inverted index (postings): one row per distinct word of each indexed text, ordered by word,
-- filled by the materialized view below on every insert into trajectory_search_text. A keyword
-- search reads only the postings of the query's words (a primary-key range each) instead of
-- scanning every text: at 100,000 trajectories that is 10-40 ms against ~200 ms for a scan with
-- hasAny / hasAnyTokens, even with a `text` or tokenbf_v1 skip index (frequent words match
-- most granules, and a skip index cannot rank). Words are ClickHouse's `tokens()` of the
-- lower-cased text: runs of letters and digits. A word that a newer version of the text no
-- longer has gets a row with Removed = 1 at that version (trajotel.store.search writes them
-- before the text), which FINAL drops: a search needs no version check (15 ms less per query).
CREATE TABLE IF NOT EXISTS trajectory_search_terms
(
    Tenant LowCardinality(String),
    Term String,
    TrajectoryId String,
    TrajectoryVersion UInt64,
    Removed UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(TrajectoryVersion, Removed)
ORDER BY (Tenant, Term, TrajectoryId);

CREATE MATERIALIZED VIEW IF NOT EXISTS trajectory_search_terms_mv TO trajectory_search_terms AS
SELECT Tenant, arrayJoin(arrayDistinct(tokens(lowerUTF8(Text)))) AS Term, TrajectoryId, TrajectoryVersion
FROM trajectory_search_text;

-- Embeddings. Vectors of different models are not comparable: a search compares the query's
-- vector only with vectors of the same Model. `Text` is what was embedded (under the stage's size
-- budget), kept so a vector can be explained and re-embedded with another model.
-- Vectors are stored as BFloat16 (what ClickHouse recommends for vector search): half the bytes
-- of Float32, and an exact scan of 100,000 384-dimension vectors reads 77 MB instead of 154 MB
-- (3-10x faster here); similarities keep 2-3 significant digits, enough to rank. No ANN
-- (vector_similarity / HNSW) index: building one for 100,000 384-dimension vectors took 13
-- minutes on this 2-core machine (and again on merges), and it filters only after the
-- approximate search; the exact scan returns exact neighbours and composes with any filter.
CREATE TABLE IF NOT EXISTS trajectory_vectors
(
    Tenant LowCardinality(String),
    TrajectoryId String,
    TrajectoryVersion UInt64,
    Model LowCardinality(String),
    Vector Array(BFloat16),  -- see above; default LZ4 (ZSTD slowed the scan, floats barely compress)
    Text String CODEC(ZSTD(3)),
    CreatedAt DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(TrajectoryVersion)
ORDER BY (Tenant, Model, TrajectoryId);
