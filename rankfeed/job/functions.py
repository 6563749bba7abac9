"""The JVM functions the SQL jobs call (built from connectors/functions by `make jars`)."""

from __future__ import annotations

from pyflink.table import TableEnvironment

#: SQL name → Java class. The jar is on the cluster's classpath (or in pipeline.jars locally).
JAVA_FUNCTIONS = {
    "UserActionTime": "io.rankfeed.flink.UserActionTime",
}


def register(env: TableEnvironment) -> None:
    for name, java_class in JAVA_FUNCTIONS.items():
        env.execute_sql(f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{java_class}' LANGUAGE JAVA")
