# syntax=docker/dockerfile:1
# Flink node (jobmanager or taskmanager) with PyFlink, rankfeed and the connector jars.
# Build context: the repository root (see docker-compose.yml).

# connectors/pom.xml is the one place the connector versions live; resolve them here rather
# than copying whatever happens to be in the host's build/ folder.
FROM maven:3.9-eclipse-temurin-17 AS jars
WORKDIR /src
COPY connectors/ connectors/
COPY schemas/ schemas/
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -f connectors/pom.xml package \
    && mvn -B -q -f connectors/functions/pom.xml package

FROM flink:2.2.1-scala_2.12-java17

USER root
# The image is Ubuntu 24.04, whose own Python is 3.12; rankfeed requires 3.11, which Ubuntu
# packages for this release only in the deadsnakes PPA. The venv keeps pip away from the
# system Python and gives `python` on PATH, which PyFlink runs by default.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends software-properties-common; \
    add-apt-repository -y ppa:deadsnakes/ppa; \
    apt-get install -y --no-install-recommends python3.11 python3.11-venv; \
    apt-get purge -y --auto-remove software-properties-common; \
    rm -rf /var/lib/apt/lists/*; \
    python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Its own layer: PyFlink and its dependencies are most of the image and rarely change.
RUN pip install apache-flink==2.2.1

WORKDIR /opt/rankfeed
COPY pyproject.toml README* ./
COPY rankfeed/ rankfeed/
COPY schemas/ schemas/
COPY jobs/ jobs/
# Editable, because rankfeed.schemas finds schemas/avro next to the package directory,
# which a regular install into site-packages would leave behind.
RUN pip install -e /opt/rankfeed

COPY --from=jars /src/build/jars/flink/ /opt/flink/lib/
# Metric reporters are plugins, each in its own folder: plugins/metrics-prometheus (enabled by
# metrics.reporter.prom.* in the configuration; README, "Monitoring").
COPY --from=jars /src/build/jars/plugins/ /opt/flink/plugins/
# The job's own functions travel with each submission (pipeline.jars), not in lib/.
COPY --from=jars /src/build/jars/job/ /opt/rankfeed/build/jars/job/
ENV RANKFEED_FUNCTIONS_JAR=/opt/rankfeed/build/jars/job/rankfeed-flink-functions.jar

# Named volumes take their owner from the mount point in the image on first use;
# Flink runs as `flink` and must be able to write both.
RUN mkdir -p /opt/flink/checkpoints /data/rankfeed \
    && chown flink:flink /opt/flink/checkpoints /data/rankfeed

WORKDIR /opt/flink
USER flink
