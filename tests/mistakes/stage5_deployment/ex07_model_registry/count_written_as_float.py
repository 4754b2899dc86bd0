"""Known mistake: the count goes through the float formatting too, so it reads 57.0, not 57.

Expect: the count as an int
"""

from __future__ import annotations


def metrics_text(tracker: LatencyTracker, registry: ModelRegistry) -> str:
    lines = [
        "# HELP model_latency_seconds Prediction latency in seconds.",
        "# TYPE model_latency_seconds summary",
        f'model_latency_seconds{{quantile="0.5"}} {_number(tracker.p50)}',
        f'model_latency_seconds{{quantile="0.95"}} {_number(tracker.p95)}',
        f"model_latency_seconds_sum {_number(tracker.sum)}",
        f"model_latency_seconds_count {_number(float(tracker.count))}",
        "# HELP model_version_info The model version being served.",
        "# TYPE model_version_info gauge",
    ]
    current = registry.current()
    if current is not None:
        lines.append(f'model_version_info{{version="{current}"}} 1')
    return "\n".join(lines) + "\n"
