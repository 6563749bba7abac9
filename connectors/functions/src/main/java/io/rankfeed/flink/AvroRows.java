package io.rankfeed.flink;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;

/** Values as Flink's external Row types hold them, for the SQL functions' outputs. */
final class AvroRows {
    private AvroRows() {}

    /** TIMESTAMP(3) of an epoch-millisecond instant, in UTC (the contract's timestamp-millis). */
    static LocalDateTime timestamp(long epochMillis) {
        return LocalDateTime.ofInstant(Instant.ofEpochMilli(epochMillis), ZoneOffset.UTC);
    }
}
