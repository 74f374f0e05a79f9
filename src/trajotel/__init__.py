"""trajotel: record what LLM agents do as OpenTelemetry spans and rebuild them into trajectories.

The agent-facing API (``trajectory``, ``tool``, ``tool_call``, ``reward``, ``outcome``) is
re-exported here from ``trajotel.instrument.api``. ``import trajotel`` stays light: it loads
only the OpenTelemetry API, never the collector side (store, chdb, clickhouse_connect).
"""

# Defined before the imports below: trajotel.instrument reads it while this module initialises.
__version__ = "0.1.0"

from trajotel.instrument.api import (
    OutcomeLabel,
    TrajectoryContext,
    current_trajectory,
    outcome,
    reward,
    tool,
    tool_call,
    trajectory,
)

__all__ = [
    "OutcomeLabel",
    "TrajectoryContext",
    "__version__",
    "current_trajectory",
    "outcome",
    "reward",
    "tool",
    "tool_call",
    "trajectory",
]
