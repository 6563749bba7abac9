"""The ingestion gateway: HTTP in, validated and enriched Avro records acknowledged by Kafka out.

One concern per module: ``settings`` (GatewaySettings), ``contract`` (rules read from the .avsc),
``compression`` (gzip bodies), ``decoding`` and ``validation``, ``eventtime`` (the event time written),
``enrich``, ``encoding`` (Avro), ``kafka`` (producer and acknowledgements), ``heartbeats`` (event-time
ticks), ``security`` (keys, CORS, rate limit), ``metrics``, ``logs``, ``openapi``, ``app`` (the ASGI
application), ``server`` (uvicorn), ``cli`` and ``client`` (an HTTP sender); ``rankfeed.asgi`` has the
ASGI plumbing shared with the re-ranker.
"""
