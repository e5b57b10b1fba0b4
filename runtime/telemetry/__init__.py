"""dualgate.runtime.telemetry: the gates' metrics and decision logs.

    metrics = GateMetrics()                      # prometheus_client when installed
    log = DecisionLog(RotatingFileSink("decisions.jsonl", 64 << 20, 5), metrics=metrics)
    log.record(entry)                            # never blocks, never raises
    log.close()                                  # writes everything still queued

Imports nothing outside the standard library; prometheus_client is imported by
``GateMetrics`` only, and only when it is installed.
"""

from dualgate.runtime.telemetry.decision_log import (
    DROP_REASONS,
    ENTRY_KEYS,
    DecisionLog,
    decision_stamp,
    format_timestamp,
    format_timestamp_ns,
    parse_entry,
)
from dualgate.runtime.telemetry.metrics import GateMetrics
from dualgate.runtime.telemetry.sinks import CallableSink, RotatingFileSink, Sink, StdoutSink

__all__ = [
    "DROP_REASONS",
    "ENTRY_KEYS",
    "CallableSink",
    "DecisionLog",
    "GateMetrics",
    "RotatingFileSink",
    "Sink",
    "StdoutSink",
    "decision_stamp",
    "format_timestamp",
    "format_timestamp_ns",
    "parse_entry",
]
