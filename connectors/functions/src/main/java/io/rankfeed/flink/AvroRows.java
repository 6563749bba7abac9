package io.rankfeed.flink;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.types.Row;

/** Avro generic records to Flink's external Row values, driven by the schema, for any record of the contract. */
final class AvroRows {
    private AvroRows() {}

    static Row toRow(GenericRecord record) {
        Schema schema = record.getSchema();
        Row row = Row.withNames();
        for (Schema.Field field : schema.getFields()) {
            row.setField(field.name(), toValue(field.schema(), record.get(field.pos())));
        }
        return row;
    }

    static LocalDateTime timestamp(long epochMillis) {
        return LocalDateTime.ofInstant(Instant.ofEpochMilli(epochMillis), ZoneOffset.UTC);
    }

    private static Object toValue(Schema schema, Object value) {
        if (value == null) {
            return null;
        }
        switch (schema.getType()) {
            case UNION:
                for (Schema branch : schema.getTypes()) {
                    if (branch.getType() != Schema.Type.NULL) {
                        return toValue(branch, value);
                    }
                }
                return null;
            case STRING:
            case ENUM:
                return value.toString();
            case LONG:
                if (schema.getLogicalType() instanceof LogicalTypes.TimestampMillis) {
                    return timestamp((Long) value);
                }
                return value;
            case ARRAY:
                List<?> items = (List<?>) value;
                Schema itemSchema = schema.getElementType();
                Object[] converted =
                        itemSchema.getType() == Schema.Type.RECORD ? new Row[items.size()] : new Object[items.size()];
                for (int i = 0; i < items.size(); i++) {
                    converted[i] = toValue(itemSchema, items.get(i));
                }
                return converted;
            case RECORD:
                return toRow((GenericRecord) value);
            default:
                return value;
        }
    }
}
