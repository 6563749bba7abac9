"""The pipeline's jobs, one module per job or stage; ``jobs/*.py`` only wires them.

    user-actions ─▶ labelling (labelling.py → Java io.rankfeed.flink.LabellingJob; Kafka only, 2 s checkpoints)
                      ├─▶ user-actions-clean, feedback-events, ltr-examples, session-summaries, late, dlq
                      └─▶ search-exposures (one record per result list, + watermark beacons)
    search-exposures ─▶ features (features.py → Java io.rankfeed.flink.FeaturesJob; heap state, 5 s checkpoints)
                      ├─ per hotel ─▶ hotel-features (each changed hotel once per processing-time interval)
                      └─ θ window counts, EM ─▶ position-propensities (one exactly-once producer for both)
    clean, ltr, sessions, propensities topics ─▶ lake (lake.py: Parquet, 60 s checkpoints)
                      ─▶ events/, ltr_examples/, sessions/, propensities/

``rankfeed.pipeline`` submits and stops the three together; ``passthrough`` and ``io_equivalent`` are
the benchmark's baselines; ``tables`` generates DDL from the contract, ``config`` the JSON sections
the Java jobs share, ``environment`` and ``runner`` hold what every job script does.
"""
