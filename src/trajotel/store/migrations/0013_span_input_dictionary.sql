-- A raw span keeps its whole input as hashes (it must be readable on its own: a reference to an
-- earlier span would be lost with that span), so a k-call run's spans list k(k+1)/2 of them:
-- 874 KiB of 4.0 MiB uncompressed for eight 50-call runs (bench/storage.py). Those hashes repeat
-- within a run, and a part stores a run's spans together (sorted by trace), so the column is
-- dictionary-encoded: each distinct hash once per part (past 8,192 keys, once per granule),
-- each reference a small index. A 100,000-span part of 2,000 such runs (200,000 distinct hashes)
-- went from 206 to 18 MB uncompressed, 5.7 to 4.1 MB compressed, timed by hand. Values, queries
-- and inserts are unchanged. Existing parts are rewritten by the ALTER.
-- The same for logs: an inference operation-details event carries the call's whole input too.
ALTER TABLE spans MODIFY COLUMN InputMessageHashes Array(LowCardinality(String)) CODEC(ZSTD(1));
ALTER TABLE logs MODIFY COLUMN InputMessageHashes Array(LowCardinality(String)) CODEC(ZSTD(1));
