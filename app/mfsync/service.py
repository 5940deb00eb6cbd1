"""Moved: the service is the engine's front door, ``mfsync.engine.service``.

This name stays only so that modules not yet updated keep working; import from
``mfsync.engine.service`` (and ``mfsync.engine.service_status``) instead.
"""

from mfsync.engine.service import (
    BATTERY_BEAT_FACTOR,
    FolderMode,
    PauseReason,
    RunPlan,
    Service,
    ServiceError,
    ServiceStatus,
    StartError,
    StartFailure,
    describe_key,
    node_options_for,
)

__all__ = [
    "BATTERY_BEAT_FACTOR",
    "FolderMode",
    "PauseReason",
    "RunPlan",
    "Service",
    "ServiceError",
    "ServiceStatus",
    "StartError",
    "StartFailure",
    "describe_key",
    "node_options_for",
]
