package io.rankfeed.flink;

import org.apache.flink.table.functions.ScalarFunction;

/** Why a Kafka value is not a valid UserAction, or null when it is: for the dead-letter reason column. */
public class UserActionError extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private transient ActionDecoder decoder;

    public String eval(byte[] value) {
        if (decoder == null) {
            decoder = new ActionDecoder();
        }
        try {
            decoder.decode(value);
            return null;
        } catch (ActionDecoder.InvalidAction invalid) {
            return invalid.getMessage();
        }
    }
}
