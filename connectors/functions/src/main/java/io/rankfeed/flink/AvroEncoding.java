package io.rankfeed.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * One contract record's schema, writer and a reused buffer: the Avro binary Flink's {@code avro}
 * format and fastavro read. Timestamps are epoch milliseconds, as {@code timestamp-millis} stores
 * them. Not thread-safe: one per task.
 */
final class AvroEncoding {
    final Schema schema;
    private final GenericDatumWriter<GenericRecord> writer;
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream(4096);
    private BinaryEncoder encoder;

    AvroEncoding(String name) {
        schema = Contract.avroSchema(name);
        writer = new GenericDatumWriter<>(schema, AvroData.WRITES);
    }

    GenericRecord record() {
        return new GenericData.Record(schema);
    }

    byte[] encode(GenericRecord record) {
        buffer.reset();
        encoder = EncoderFactory.get().directBinaryEncoder(buffer, encoder);
        try {
            writer.write(record, encoder);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return buffer.toByteArray();
    }
}
