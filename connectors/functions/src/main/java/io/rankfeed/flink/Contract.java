package io.rankfeed.flink;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.avro.Schema;
import org.apache.flink.formats.avro.typeutils.AvroSchemaConverter;
import org.apache.flink.table.types.DataType;

/**
 * The event contract as the JVM functions see it: the same .avsc files the Python side reads,
 * packaged into this jar, so no field list is ever typed twice.
 */
public final class Contract {
    public static final String USER_ACTION = "user_action";
    public static final String FEEDBACK_EVENT = "feedback_event";
    public static final String LTR_EXAMPLE = "ltr_example";
    public static final String SESSION_SUMMARY = "session_summary";
    public static final String HOTEL_FEATURES = "hotel_features";
    public static final String POSITION_PROPENSITIES = "position_propensities";
    public static final String SEARCH_EXPOSURES = "search_exposures";
    public static final String REJECTED_ACTION = "rejected_action";

    private Contract() {}

    public static String schemaJson(String name) {
        String path = "rankfeed/avro/" + name + ".avsc";
        try (InputStream in = Contract.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("schema " + path + " is not packaged in the functions jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Schema avroSchema(String name) {
        return new Schema.Parser().parse(schemaJson(name));
    }

    /** The Flink type of a record; timestamp-millis maps to TIMESTAMP(3) as in the DDL the Python side generates. */
    public static DataType dataType(String name) {
        return AvroSchemaConverter.convertToDataType(schemaJson(name), true);
    }
}
