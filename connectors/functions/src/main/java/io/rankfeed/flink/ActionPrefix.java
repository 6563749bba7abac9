package io.rankfeed.flink;

import java.io.IOException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Base of the functions that read a UserAction's leading fields without decoding the rest.
 *
 * <p>The source's watermark, the session partitioning and the late-topic rows need a field or two
 * before (or instead of) the full decode, which the SessionLabeler does once per action. The field
 * order is the contract's: event_id, schema_version, user_id, session_id, timestamp; the end-to-end
 * tests feed the contract's own bytes through these functions.
 */
abstract class ActionPrefix extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private transient BinaryDecoder decoder;

    /** The leading fields, or null when the bytes do not start like a UserAction. */
    final Fields read(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, decoder);
            Fields fields = new Fields();
            fields.eventId = decoder.readString();
            decoder.readInt(); // schema_version
            decoder.skipString(); // user_id
            fields.sessionId = decoder.readString();
            fields.timeMillis = decoder.readLong();
            return fields;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static final class Fields {
        String eventId;
        String sessionId;
        long timeMillis;
    }
}
