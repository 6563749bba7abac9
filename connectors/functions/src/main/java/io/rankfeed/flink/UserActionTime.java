package io.rankfeed.flink;

import java.time.LocalDateTime;
import org.apache.flink.table.annotation.DataTypeHint;

/** The event time of a UserAction from its leading bytes; null when they do not decode. */
public class UserActionTime extends ActionPrefix {
    private static final long serialVersionUID = 1L;

    public @DataTypeHint("TIMESTAMP(3)") LocalDateTime eval(byte[] value) {
        LeadingFields fields = read(value);
        return fields == null ? null : AvroRows.timestamp(fields.timeMillis);
    }
}
