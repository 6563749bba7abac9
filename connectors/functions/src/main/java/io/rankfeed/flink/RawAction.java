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
    /** Between user_id and session_id in {@link #sessionKey} (a control character no id contains in practice). */
    static final char KEY_SEPARATOR = '\u001f';

    public byte[] value;
    public int partition;
    public long offset;
    /** Event time in epoch milliseconds, {@link #UNREADABLE_TIME} when it cannot be read. */
    public long eventTime;
    /** The session id; null when the leading fields do not decode (poison). */
    public String sessionId;
    /**
     * The labeller's key: user_id and session_id together, so two users sending the same session id
     * (a frontend that failed to read its cookie sends "undefined") are never one session. Null for poison.
     */
    public String sessionKey;
    public String eventId;

    public RawAction() {}

    RawAction(byte[] value, int partition, long offset, LeadingFields fields) {
        this.value = value;
        this.partition = partition;
        this.offset = offset;
        this.eventTime = fields == null ? UNREADABLE_TIME : fields.timeMillis;
        this.sessionId = fields == null ? null : fields.sessionId;
        this.sessionKey = fields == null ? null : fields.userId + KEY_SEPARATOR + fields.sessionId;
        this.eventId = fields == null ? null : fields.eventId;
    }
}
