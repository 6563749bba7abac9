"""Sections the JVM jobs' configuration documents share, built from ``JobSettings`` in one place.

Each Java job reads one JSON document (``LabellingConfig``, ``FeaturesConfig``) that fails on an
unknown or missing key; the defaults live only in ``JobSettings``.
"""

from __future__ import annotations

from typing import Any

from rankfeed.settings import JobSettings


def kafka_section(settings: JobSettings, group_suffix: str = "") -> dict[str, Any]:
    """``KafkaConfig``: where a job reads and writes; offsets are committed under the settings'
    consumer group, plus ``-group_suffix`` when a job reads beside others."""
    group = f"{settings.consumer_group}-{group_suffix}" if group_suffix else settings.consumer_group
    return {
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "consumer_group": group,
        "startup_mode": settings.startup_mode,
        "transactional_id_prefix": settings.transactional_id_prefix + (f"-{group_suffix}" if group_suffix else ""),
        "transaction_timeout_ms": settings.transaction_timeout_ms,
    }


def propensity_section(settings: JobSettings) -> dict[str, Any]:
    """``{"propensity": …}`` with the submission's propensity table, or nothing without one."""
    if settings.propensity_table is None:
        return {}
    from rankfeed.propensity import PropensityTable

    table = PropensityTable.load(settings.propensity_table)
    return {"propensity": {"version": table.version, "theta": list(table.theta), "max_weight": table.max_weight}}
