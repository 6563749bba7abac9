package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.junit.jupiter.api.Test;

/** {@link AvroData}'s union shortcut picks the branch Avro's own lookup picks, on every union of the contract. */
class AvroDataTest {
    private static final List<String> OUTPUTS = List.of(
            Contract.FEEDBACK_EVENT,
            Contract.LTR_EXAMPLE,
            Contract.SESSION_SUMMARY,
            Contract.SEARCH_EXPOSURES,
            Contract.REJECTED_ACTION);

    @Test
    void agreesWithAvroForNullAndForAValue() {
        List<Schema> unions = new ArrayList<>();
        for (String name : OUTPUTS) {
            collectUnions(Contract.avroSchema(name), unions);
        }
        assertTrue(unions.size() > 10, "the outputs have nullable fields: " + unions.size());
        for (Schema union : unions) {
            assertEquals(GenericData.get().resolveUnion(union, null),
                    AvroData.WRITES.resolveUnion(union, null), union.toString());
            for (Schema branch : union.getTypes()) {
                Object value = sample(branch);
                if (value != null) {
                    assertEquals(GenericData.get().resolveUnion(union, value),
                            AvroData.WRITES.resolveUnion(union, value), union + " with " + value);
                }
            }
        }
    }

    @Test
    void readsTakeAvrosFastReader() {
        assertTrue(AvroData.READS.isFastReaderEnabled(), "Avro accepts the fast reader only for plain GenericData");
    }

    @Test
    void otherUnionsGoTheUsualWay() {
        Schema union = Schema.createUnion(Schema.create(Schema.Type.STRING), Schema.create(Schema.Type.INT));
        assertEquals(1, AvroData.WRITES.resolveUnion(union, 5));
        assertEquals(0, AvroData.WRITES.resolveUnion(union, "five"));
    }

    private static void collectUnions(Schema schema, List<Schema> unions) {
        switch (schema.getType()) {
            case RECORD:
                schema.getFields().forEach(field -> collectUnions(field.schema(), unions));
                break;
            case ARRAY:
                collectUnions(schema.getElementType(), unions);
                break;
            case UNION:
                unions.add(schema);
                schema.getTypes().forEach(branch -> collectUnions(branch, unions));
                break;
            default:
                break;
        }
    }

    private static Object sample(Schema branch) {
        switch (branch.getType()) {
            case STRING: return "x";
            case INT: return 1;
            case LONG: return 1L;
            case DOUBLE: return 1.0;
            case FLOAT: return 1.0f;
            case BOOLEAN: return true;
            case BYTES: return ByteBuffer.wrap(new byte[] {1});
            case RECORD: return new GenericData.Record(branch);
            case ARRAY: return new GenericData.Array<>(0, branch);
            default: return null;
        }
    }
}
