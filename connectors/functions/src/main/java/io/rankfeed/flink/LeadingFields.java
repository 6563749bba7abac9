package io.rankfeed.flink;

import java.io.IOException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * A UserAction's leading fields, read without decoding the rest: the watermark, the session
 * partitioning and the late-topic records need them before (or instead of) the full decode.
 *
 * <p>The field order is the contract's: event_id, schema_version, user_id, session_id, timestamp;
 * the end-to-end tests feed the contract's own bytes through this reader.
 */
final class LeadingFields {
    String eventId;
    String userId;
    String sessionId;
    long timeMillis;

    /** Reads leading fields with a reusable decoder; not thread-safe, one per task. */
    static final class Reader {
        private BinaryDecoder decoder;

        /** The action_type (the field after the leading ones), or null when the bytes do not decode. */
        String actionType(byte[] value) {
            try {
                decoder = DecoderFactory.get().binaryDecoder(value, decoder);
                decoder.skipString(); // event_id
                decoder.readInt(); // schema_version
                decoder.skipString(); // user_id
                decoder.skipString(); // session_id
                decoder.readLong(); // timestamp
                return decoder.readString();
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }

        /** The leading fields, or null when the bytes do not start like a UserAction. */
        LeadingFields read(byte[] value) {
            if (value == null) {
                return null;
            }
            try {
                decoder = DecoderFactory.get().binaryDecoder(value, decoder);
                LeadingFields fields = new LeadingFields();
                fields.eventId = decoder.readString();
                decoder.readInt(); // schema_version
                fields.userId = decoder.readString();
                fields.sessionId = decoder.readString();
                fields.timeMillis = decoder.readLong();
                return fields;
            } catch (IOException | RuntimeException e) {
                return null;
            }
        }
    }
}
