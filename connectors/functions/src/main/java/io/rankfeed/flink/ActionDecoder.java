package io.rankfeed.flink;

import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * Decodes Kafka values against the UserAction contract and says precisely what is wrong with the
 * ones that do not fit, instead of throwing: one bad producer must not stop the pipeline.
 */
final class ActionDecoder {
    private final GenericDatumReader<GenericRecord> reader;
    private final Set<String> actionTypes = new HashSet<>();
    private BinaryDecoder decoder;

    ActionDecoder() {
        Schema schema = Contract.avroSchema(Contract.USER_ACTION);
        reader = new GenericDatumReader<>(schema);
        for (Object symbol : (List<?>) schema.getField("action_type").getObjectProp("symbols")) {
            actionTypes.add(symbol.toString());
        }
    }

    /** The decoded action; throws {@link InvalidAction} with the reason when it does not fit the contract. */
    GenericRecord decode(byte[] value) throws InvalidAction {
        if (value == null) {
            throw new InvalidAction("empty Kafka value (null)");
        }
        GenericRecord record;
        try {
            decoder = DecoderFactory.get().binaryDecoder(value, decoder);
            record = reader.read(null, decoder);
            if (!decoder.isEnd()) {
                throw new InvalidAction("bytes left over after a complete UserAction: not written with this contract");
            }
        } catch (IOException | RuntimeException e) {
            throw new InvalidAction("not a UserAction Avro record (" + e + ")");
        }
        String actionType = String.valueOf(record.get("action_type"));
        if (!actionTypes.contains(actionType)) {
            throw new InvalidAction("action_type '" + actionType + "' is not one of " + actionTypes);
        }
        return record;
    }

    /** Why a Kafka value was not accepted. */
    static final class InvalidAction extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidAction(String reason) {
            super(reason);
        }
    }
}
