package io.rankfeed.flink;

import org.apache.flink.table.functions.ScalarFunction;

/** Base of the SQL functions that read a UserAction's {@link LeadingFields} without decoding the rest. */
abstract class ActionPrefix extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private transient LeadingFields.Reader reader;

    /** The leading fields, or null when the bytes do not start like a UserAction. */
    final LeadingFields read(byte[] value) {
        if (reader == null) {
            reader = new LeadingFields.Reader();
        }
        return reader.read(value);
    }
}
