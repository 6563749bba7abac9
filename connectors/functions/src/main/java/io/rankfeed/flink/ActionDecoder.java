package io.rankfeed.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;

/**
 * Decodes Kafka values against the UserAction contract and says precisely what is wrong with the
 * ones that do not fit, instead of throwing: one bad producer must not stop the pipeline.
 *
 * <p>Bytes on Kafka carry no writer schema. The contract only ever appends optional fields with a
 * null default, so a record written by an earlier version is the current record without its last
 * k fields: when the current schema runs out of bytes, the decoder tries the schema without its
 * last 1, 2, … optional fields (Avro schema resolution fills them with their defaults). Such a
 * record is {@link Decoded#upgraded}: {@link Decoded#bytes} are re-encoded with the current schema,
 * so everything downstream (the clean topic, the lake) reads one version. A newer record than this
 * jar knows (bytes left over) is refused: deploy the job before the gateway that writes new fields.
 */
final class ActionDecoder {
    private final Schema schema;
    private final GenericDatumReader<GenericRecord> reader;
    /** Readers of earlier versions (the current schema without its last 1, 2, … optional fields). */
    private final List<GenericDatumReader<GenericRecord>> earlier = new ArrayList<>();
    private final GenericDatumWriter<GenericRecord> writer;
    private final Set<String> actionTypes = new HashSet<>();
    private BinaryDecoder decoder;
    private BinaryEncoder encoder;

    ActionDecoder() {
        schema = Contract.avroSchema(Contract.USER_ACTION);
        reader = new GenericDatumReader<>(schema, schema, AvroData.READS);
        writer = new GenericDatumWriter<>(schema, AvroData.WRITES);
        List<Schema.Field> fields = schema.getFields();
        for (int keep = fields.size() - 1; keep > 0 && fields.get(keep).hasDefaultValue(); keep--) {
            earlier.add(new GenericDatumReader<>(prefix(schema, keep), schema, AvroData.READS));
        }
        for (Object symbol : (List<?>) schema.getField("action_type").getObjectProp("symbols")) {
            actionTypes.add(symbol.toString());
        }
    }

    /** A decoded action and the bytes that carry it in the current version. */
    static final class Decoded {
        final GenericRecord record;
        final byte[] bytes;
        /** Written by an earlier version of the contract (and re-encoded). */
        final boolean upgraded;

        Decoded(GenericRecord record, byte[] bytes, boolean upgraded) {
            this.record = record;
            this.bytes = bytes;
            this.upgraded = upgraded;
        }
    }

    /** The decoded action; throws {@link InvalidAction} with the reason when it does not fit the contract. */
    GenericRecord decode(byte[] value) throws InvalidAction {
        return decodeAny(value).record;
    }

    /** Like {@link #decode}, accepting records of earlier contract versions too (see the class comment). */
    Decoded decodeAny(byte[] value) throws InvalidAction {
        if (value == null) {
            throw new InvalidAction("empty Kafka value (null)");
        }
        GenericRecord record;
        try {
            record = read(reader, value);
        } catch (IOException | RuntimeException current) {
            for (GenericDatumReader<GenericRecord> older : earlier) {
                try {
                    GenericRecord upgraded = check(read(older, value));
                    return new Decoded(upgraded, encode(upgraded), true);
                } catch (IOException | RuntimeException | InvalidAction notThisVersion) {
                    // try the next earlier version
                }
            }
            throw new InvalidAction("not a UserAction Avro record (" + current + ")");
        }
        return new Decoded(check(record), value, false);
    }

    private GenericRecord read(GenericDatumReader<GenericRecord> datumReader, byte[] value) throws IOException {
        decoder = DecoderFactory.get().binaryDecoder(value, decoder);
        GenericRecord record = datumReader.read(null, decoder);
        if (!decoder.isEnd()) {
            throw new LeftOver();
        }
        return record;
    }

    private GenericRecord check(GenericRecord record) throws InvalidAction {
        String actionType = String.valueOf(record.get("action_type"));
        if (!actionTypes.contains(actionType)) {
            throw new InvalidAction("action_type '" + actionType + "' is not one of " + actionTypes);
        }
        return record;
    }

    private byte[] encode(GenericRecord record) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        encoder = EncoderFactory.get().directBinaryEncoder(out, encoder);
        writer.write(record, encoder);
        return out.toByteArray();
    }

    /** {@code schema} with only its first {@code keep} fields: an earlier append-only version. */
    private static Schema prefix(Schema schema, int keep) {
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field field : schema.getFields().subList(0, keep)) {
            fields.add(new Schema.Field(field, field.schema()));
        }
        return Schema.createRecord(schema.getName(), schema.getDoc(), schema.getNamespace(), false, fields);
    }

    /** Bytes remained after a complete record: written with a newer (or another) schema. */
    private static final class LeftOver extends RuntimeException {
        private static final long serialVersionUID = 1L;

        LeftOver() {
            super("bytes left over after a complete UserAction: not written with this contract (or a newer version)");
        }
    }

    /** Why a Kafka value was not accepted. */
    static final class InvalidAction extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidAction(String reason) {
            super(reason);
        }
    }
}
