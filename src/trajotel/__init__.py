"""trajotel: record what LLM agents do as OpenTelemetry spans and rebuild them into trajectories."""

__version__ = "0.1.0"
