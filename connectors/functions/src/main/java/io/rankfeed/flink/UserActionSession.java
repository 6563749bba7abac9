package io.rankfeed.flink;

/**
 * The session_id of a UserAction from its leading bytes, as the SessionLabeler's partition key; an
 * empty string when they do not decode, so poison still reaches the labeler, which sends it to the
 * dead-letter topic with the reason.
 */
public class UserActionSession extends ActionPrefix {
    private static final long serialVersionUID = 1L;

    public String eval(byte[] value) {
        Fields fields = read(value);
        return fields == null ? "" : fields.sessionId;
    }
}
