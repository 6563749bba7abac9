"""The local development stack: a real Kafka broker and a real Flink standalone cluster on loopback."""
