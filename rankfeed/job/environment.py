"""The Table environment every rankfeed job runs in: streaming, checkpointed, exactly once."""

from __future__ import annotations

from pyflink.table import EnvironmentSettings, TableEnvironment

from rankfeed.settings import JobSettings


def create_table_environment(settings: JobSettings, pipeline_name: str) -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.name", pipeline_name)
    config.set("parallelism.default", str(settings.parallelism))
    config.set("execution.checkpointing.interval", f"{settings.checkpoint_interval_seconds} s")
    config.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    # A partition with no traffic must not hold back the watermark of the others.
    config.set("table.exec.source.idle-timeout", f"{settings.source_idle_timeout_seconds} s")
    if settings.ship_jars:
        jars = sorted(settings.jars_dir.glob("*.jar"))
        if not jars:
            raise FileNotFoundError(f"no connector jars in {settings.jars_dir}; run `make jars` first")
        config.set("pipeline.jars", ";".join(jar.as_uri() for jar in jars))
    return env
