"""trajotel.enrich: stages that add knowledge to finished trajectories (outcome, score, summary,
decisions, entities, group-relative scores, vectors) and per-turn credit. docs/enrichment.md."""
