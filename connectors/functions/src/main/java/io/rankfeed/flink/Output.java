package io.rankfeed.flink;

/**
 * One record for one of a job's topics, already encoded: the job's single exactly-once Kafka sink
 * only routes it. A Flink POJO, so nothing falls back to Kryo.
 */
public class Output {
    /** The jobs' outputs; each maps to one topic of the configuration. */
    public enum Sink {
        CLEAN,
        FEEDBACK,
        LTR,
        SESSIONS,
        EXPOSURES,
        LATE,
        DLQ,
        /** The features job's. */
        HOTEL_FEATURES,
        PROPENSITIES
    }

    public Sink sink;
    /** Kafka partition when the record is addressed to one (watermark beacons); null: by key. */
    public Integer partition;
    /** Kafka key (UTF-8 session id, compaction key), or null. */
    public byte[] key;
    /** Avro binary of the sink's contract record (raw bytes for CLEAN, LATE and DLQ's raw_value). */
    public byte[] value;

    public Output() {}

    Output(Sink sink, byte[] key, byte[] value) {
        this.sink = sink;
        this.key = key;
        this.value = value;
    }

    Output(Sink sink, int partition, byte[] value) {
        this.sink = sink;
        this.partition = partition;
        this.value = value;
    }
}
