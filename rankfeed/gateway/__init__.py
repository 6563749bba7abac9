"""The ingestion gateway: HTTP in, validated and enriched Avro records acknowledged by Kafka out.

One concern per module: ``settings`` (GatewaySettings), ``contract`` (rules read from the .avsc),
``validation``, ``enrich``, ``encoding`` (Avro), ``kafka`` (producer and acknowledgements),
``security`` (keys, CORS, rate limit), ``metrics``, ``logs``, ``openapi``, ``http`` (ASGI plumbing),
``app`` (the ASGI application), ``server`` (uvicorn), ``cli`` and ``client`` (an HTTP sender).
"""
