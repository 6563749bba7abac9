package io.rankfeed.flink;

import java.io.IOException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The session_id of a UserAction, read from its first bytes, as the SessionLabeler's partition key;
 * an empty string when they do not decode, so poison still reaches the labeler, which sends it to
 * the dead-letter topic with the reason.
 */
public class UserActionSession extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private transient BinaryDecoder decoder;

    public String eval(byte[] value) {
        if (value == null) {
            return "";
        }
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, decoder);
            decoder.skipString(); // event_id
            decoder.readInt(); // schema_version
            decoder.skipString(); // user_id
            return decoder.readString(); // session_id
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
