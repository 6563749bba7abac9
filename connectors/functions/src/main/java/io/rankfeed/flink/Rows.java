package io.rankfeed.flink;

import org.apache.flink.types.Row;

/** Rows built by field name, so output code reads like the .avsc it must match. */
final class Rows {
    private Rows() {}

    /** {@code named("a", 1, "b", "x")}: a named Row; fields not given stay null. */
    static Row named(Object... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("named() takes name, value pairs");
        }
        Row row = Row.withNames();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            row.setField((String) namesAndValues[i], namesAndValues[i + 1]);
        }
        return row;
    }
}
