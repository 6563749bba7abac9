package io.rankfeed.flink;

/** The event_id of a UserAction from its leading bytes; null when they do not decode. */
public class UserActionId extends ActionPrefix {
    private static final long serialVersionUID = 1L;

    public String eval(byte[] value) {
        Fields fields = read(value);
        return fields == null ? null : fields.eventId;
    }
}
