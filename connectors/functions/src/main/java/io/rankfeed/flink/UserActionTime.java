package io.rankfeed.flink;

import java.io.IOException;
import java.time.LocalDateTime;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The event time of a UserAction, read from its first bytes; null when they do not decode.
 *
 * <p>The source's watermark and the session partitioning need two fields before the full decode
 * happens (which the SessionLabeler does once). Reading only the leading fields keeps that cheap.
 * The field order is the contract's: event_id, schema_version, user_id, session_id, timestamp;
 * the end-to-end tests decode the contract's own bytes with it.
 */
public class UserActionTime extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private transient BinaryDecoder decoder;

    public @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, decoder);
            decoder.skipString(); // event_id
            decoder.readInt(); // schema_version
            decoder.skipString(); // user_id
            decoder.skipString(); // session_id
            return AvroRows.timestamp(decoder.readLong());
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
