# Ingest gateway: validates user actions and produces them to Kafka.
# Build context: the repository root (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README* ./
COPY rankfeed/ rankfeed/
COPY schemas/ schemas/
# Editable, because rankfeed.schemas finds schemas/avro next to the package directory,
# which a regular install into site-packages would leave behind.
RUN pip install -e /app

RUN useradd --system --uid 10001 --no-create-home rankfeed
USER rankfeed

EXPOSE 8000
CMD ["rankfeed", "gateway", "--host", "0.0.0.0", "--port", "8000"]
