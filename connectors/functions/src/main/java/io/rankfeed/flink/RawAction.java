package io.rankfeed.flink;

/**
 * One Kafka record of the user-actions topic as the labelling job reads it: the value untouched
 * (clean events and rejected records keep the exact bytes), where it came from, and the two
 * leading fields routing needs before the full decode.
 *
 * <p>A Flink POJO (public fields, no-arg constructor) so the keyBy exchange serializes it without Kryo.
 */
public class RawAction {
    /** Event time of bytes whose leading fields do not decode: never moves the watermark. */
    public static final long UNREADABLE_TIME = 0L;

    public byte[] value;
    public int partition;
    public long offset;
    /** Event time in epoch milliseconds, {@link #UNREADABLE_TIME} when it cannot be read. */
    public long eventTime;
    /** The partition key of the labeller; null when the leading fields do not decode (poison). */
    public String sessionId;
    public String eventId;

    public RawAction() {}

    RawAction(byte[] value, int partition, long offset, LeadingFields fields) {
        this.value = value;
        this.partition = partition;
        this.offset = offset;
        this.eventTime = fields == null ? UNREADABLE_TIME : fields.timeMillis;
        this.sessionId = fields == null ? null : fields.sessionId;
        this.eventId = fields == null ? null : fields.eventId;
    }
}
