"""trajotel: record what LLM agents do as OpenTelemetry spans and rebuild them into trajectories.

The agent-facing API (``trajectory``, ``tool``, ``tool_call``, ``reward``, ``outcome``,
``feedback``) is re-exported here from ``trajotel.instrument.api``, and ``Client`` (the REST API,
standard library only) from ``trajotel.client``. ``import trajotel`` stays light: it loads only
the OpenTelemetry API, never the collector side (store, chdb, clickhouse_connect).
"""

# Defined before the imports below: trajotel.instrument reads it while this module initialises.
__version__ = "0.1.0"

from trajotel.client import Client
from trajotel.instrument.api import (
    OutcomeLabel,
    TrajectoryContext,
    current_trajectory,
    feedback,
    outcome,
    reward,
    tool,
    tool_call,
    trajectory,
)

__all__ = [
    "Client",
    "OutcomeLabel",
    "TrajectoryContext",
    "__version__",
    "current_trajectory",
    "feedback",
    "outcome",
    "reward",
    "tool",
    "tool_call",
    "trajectory",
]
