package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;

/** The contract only appends optional fields: records of every earlier version decode, newer ones are refused. */
class ActionDecoderTest {
    private static final Schema CURRENT = Contract.avroSchema(Contract.USER_ACTION);

    /** The contract as an earlier version wrote it: without its last {@code dropped} fields. */
    private static Schema earlier(int dropped) {
        List<Schema.Field> fields = new ArrayList<>();
        for (Schema.Field field : CURRENT.getFields().subList(0, CURRENT.getFields().size() - dropped)) {
            fields.add(new Schema.Field(field, field.schema()));
        }
        return Schema.createRecord(CURRENT.getName(), null, CURRENT.getNamespace(), false, fields);
    }

    private static byte[] write(Schema schema, GenericRecord record) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
        encoder.flush();
        return out.toByteArray();
    }

    private static GenericRecord click(Schema schema) {
        GenericRecord record = new GenericData.Record(schema);
        record.put("event_id", "e1");
        record.put("schema_version", 1);
        record.put("user_id", "u1");
        record.put("session_id", "s1");
        record.put("timestamp", 1_700_000_000_000L);
        record.put("action_type", "click");
        record.put("hotel_id", "h1");
        return record;
    }

    @Test
    void currentRecordsPassThroughUntouched() throws Exception {
        byte[] bytes = write(CURRENT, click(CURRENT));
        ActionDecoder.Decoded decoded = new ActionDecoder().decodeAny(bytes);
        assertFalse(decoded.upgraded);
        assertArrayEquals(bytes, decoded.bytes, "the clean topic keeps the bytes as written");
    }

    @Test
    void recordsOfEveryEarlierVersionAreUpgradedToTheCurrentOne() throws Exception {
        ActionDecoder decoder = new ActionDecoder();
        for (int dropped = 1; dropped <= 5; dropped++) {
            Schema old = earlier(dropped);
            ActionDecoder.Decoded decoded = decoder.decodeAny(write(old, click(old)));
            assertTrue(decoded.upgraded, "written without the last " + dropped + " fields");
            assertEquals("h1", decoded.record.get("hotel_id").toString());
            String last = CURRENT.getFields().get(CURRENT.getFields().size() - 1).name();
            assertNull(decoded.record.get(last), "a field the writer did not know takes its default");
            GenericRecord reread = new GenericDatumReader<GenericRecord>(CURRENT)
                    .read(null, DecoderFactory.get().binaryDecoder(decoded.bytes, null));
            assertEquals("e1", reread.get("event_id").toString(), "re-encoded in the current version");
        }
    }

    @Test
    void aNewerRecordThanThisJarKnowsIsRefusedWithTheReason() throws Exception {
        byte[] current = write(CURRENT, click(CURRENT));
        byte[] newer = new byte[current.length + 2];
        System.arraycopy(current, 0, newer, 0, current.length);
        newer[current.length] = 2; // a union branch of a field this version does not have
        ActionDecoder.InvalidAction refused =
                assertThrows(ActionDecoder.InvalidAction.class, () -> new ActionDecoder().decodeAny(newer));
        assertTrue(refused.getMessage().contains("left over"), refused.getMessage());
    }
}
