package io.rankfeed.flink;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * Decodes the jobs' {@link Output}s against the contract of their sink, into plain maps
 * (strings as String, bytes as byte[], nested records as maps) so assertions read like the .avsc.
 */
final class Records {
    private static final Map<Output.Sink, Schema> SCHEMAS = new EnumMap<>(Output.Sink.class);

    static {
        SCHEMAS.put(Output.Sink.CLEAN, Contract.avroSchema(Contract.USER_ACTION));
        SCHEMAS.put(Output.Sink.FEEDBACK, Contract.avroSchema(Contract.FEEDBACK_EVENT));
        SCHEMAS.put(Output.Sink.LTR, Contract.avroSchema(Contract.LTR_EXAMPLE));
        SCHEMAS.put(Output.Sink.SESSIONS, Contract.avroSchema(Contract.SESSION_SUMMARY));
        SCHEMAS.put(Output.Sink.EXPOSURES, Contract.avroSchema(Contract.SEARCH_EXPOSURES));
        SCHEMAS.put(Output.Sink.LATE, Contract.avroSchema(Contract.REJECTED_ACTION));
        SCHEMAS.put(Output.Sink.DLQ, Contract.avroSchema(Contract.REJECTED_ACTION));
        SCHEMAS.put(Output.Sink.HOTEL_FEATURES, Contract.avroSchema(Contract.HOTEL_FEATURES));
        SCHEMAS.put(Output.Sink.PROPENSITIES, Contract.avroSchema(Contract.POSITION_PROPENSITIES));
    }

    private Records() {}

    /** The value decoded with the sink's schema; fails when bytes are left over. */
    static Map<String, Object> decode(Output output) {
        Schema schema = SCHEMAS.get(output.sink);
        try {
            BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(output.value, null);
            GenericRecord record = new GenericDatumReader<GenericRecord>(schema).read(null, decoder);
            if (!decoder.isEnd()) {
                throw new AssertionError(output.sink + " value has bytes left over after its record");
            }
            return map(record);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Map<String, Object>> of(List<Output> outputs, Output.Sink sink) {
        List<Map<String, Object>> records = new ArrayList<>();
        for (Output output : outputs) {
            if (output.sink == sink) {
                records.add(decode(output));
            }
        }
        return records;
    }

    /** The one record of {@code sink} whose {@code field} equals {@code value}. */
    static Map<String, Object> find(List<Map<String, Object>> records, String field, Object value) {
        Map<String, Object> found = null;
        for (Map<String, Object> record : records) {
            if (value.equals(record.get(field))) {
                if (found != null) {
                    throw new AssertionError("more than one record with " + field + "=" + value + ": " + records);
                }
                found = record;
            }
        }
        if (found == null) {
            throw new AssertionError("no record with " + field + "=" + value + " in " + records);
        }
        return found;
    }

    /** The values of {@code field}, in order. */
    static List<Object> column(List<Map<String, Object>> records, String field) {
        List<Object> values = new ArrayList<>();
        for (Map<String, Object> record : records) {
            values.add(record.get(field));
        }
        return values;
    }

    static Map<String, Object> map(GenericRecord record) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (Schema.Field field : record.getSchema().getFields()) {
            map.put(field.name(), plain(record.get(field.name())));
        }
        return map;
    }

    private static Object plain(Object value) {
        if (value instanceof CharSequence) {
            return value.toString();
        }
        if (value instanceof GenericRecord) {
            return map((GenericRecord) value);
        }
        if (value instanceof ByteBuffer) {
            ByteBuffer buffer = ((ByteBuffer) value).duplicate();
            byte[] bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
            return bytes;
        }
        if (value instanceof List) {
            List<Object> items = new ArrayList<>();
            for (Object item : (List<?>) value) {
                items.add(plain(item));
            }
            return items;
        }
        return value;
    }
}
