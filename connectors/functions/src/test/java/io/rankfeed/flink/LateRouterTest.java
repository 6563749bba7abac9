package io.rankfeed.flink;

import static io.rankfeed.flink.Actions.click;
import static io.rankfeed.flink.Actions.search;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The labeller's first step, in the keyed operator harness: actions at or behind the labeller's
 * watermark to LATE, unreadable bytes to DLQ, the rest to the labeller.
 */
class LateRouterTest {
    private Labeller harness;

    @BeforeEach
    void open() throws Exception {
        harness = new Labeller(Configs.defaults());
    }

    @AfterEach
    void close() throws Exception {
        harness.close();
    }

    private void send(RawAction raw) throws Exception {
        harness.send(raw);
    }

    private List<Output> rejected() {
        List<Output> outputs = new ArrayList<>();
        for (Output output : harness.outputs()) {
            if (output.sink == Output.Sink.LATE || output.sink == Output.Sink.DLQ) {
                outputs.add(output);
            }
        }
        return outputs;
    }

    /** Event ids the labeller took (written to the clean topic once the watermark passes them). */
    private List<Object> taken(long watermark) throws Exception {
        harness.watermark(watermark);
        return Records.column(harness.records(Output.Sink.CLEAN), "event_id");
    }

    @Test
    void actionsAfterTheWatermarkPassOnUntouched() throws Exception {
        harness.watermark(10_000);
        RawAction raw = click("e1", 10_001, "q1", "h1", 1).raw();
        send(raw);
        assertEquals(List.of(), rejected());
        List<Output> clean = new ArrayList<>();
        harness.watermark(10_001);
        for (Output output : harness.outputs()) {
            if (output.sink == Output.Sink.CLEAN) {
                clean.add(output);
            }
        }
        assertEquals(1, clean.size());
        assertArrayEquals(raw.value, clean.get(0).value, "the clean topic gets the exact bytes");
    }

    @Test
    void anActionAtTheWatermarkIsLate() throws Exception {
        harness.watermark(10_000);
        RawAction raw = click("e1", 10_000, "q1", "h1", 1).partition(2).raw();
        send(raw);
        assertEquals(List.of(), taken(20_000));
        List<Output> rejected = rejected();
        assertEquals(1, rejected.size());
        Output output = rejected.get(0);
        assertEquals(Output.Sink.LATE, output.sink);
        Map<String, Object> record = Records.decode(output);
        String reason = (String) record.get("reason");
        assertTrue(reason.contains("watermark"), reason);
        assertTrue(reason.contains("5.0 s"), reason);
        assertArrayEquals(raw.value, (byte[]) record.get("raw_value"));
        assertEquals("e1", record.get("event_id"));
        assertEquals(10_000L, record.get("event_time"));
        assertEquals(2, record.get("source_partition"));
        assertEquals(raw.offset, record.get("source_offset"));
    }

    @Test
    void anActionBehindTheWatermarkIsLate() throws Exception {
        harness.watermark(10_000);
        send(search("e1", 4_000, "q1", Actions.hotels(2)).raw());
        assertEquals(Output.Sink.LATE, rejected().get(0).sink);
        assertEquals(List.of(), taken(20_000));
    }

    @Test
    void unreadableLeadingFieldsGoToTheDeadLetterOutputWhateverTheWatermark() throws Exception {
        byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01};
        RawAction raw = Actions.rawOf(garbage, 1);
        assertNull(raw.sessionId, "the source could not read the leading fields");
        send(raw); // no watermark yet
        assertEquals(1, harness.outputs().size(), "nothing but the dead letter");
        Output output = rejected().get(0);
        assertEquals(Output.Sink.DLQ, output.sink);
        Map<String, Object> record = Records.decode(output);
        assertTrue(((String) record.get("reason")).length() > 0);
        assertArrayEquals(garbage, (byte[]) record.get("raw_value"));
        assertNull(record.get("event_id"));
        assertNull(record.get("event_time"));
        assertEquals(1, record.get("source_partition"));
    }

    @Test
    void aNullValueGoesToTheDeadLetterOutput() throws Exception {
        send(Actions.rawOf(null, 0));
        Map<String, Object> record = Records.decode(rejected().get(0));
        assertEquals(Output.Sink.DLQ, rejected().get(0).sink);
        assertTrue(((String) record.get("reason")).contains("null"), (String) record.get("reason"));
        assertArrayEquals(new byte[0], (byte[]) record.get("raw_value"));
    }

    @Test
    void lateBytesThatDoNotDecodeAreDeadLettersNotLate() throws Exception {
        harness.watermark(10_000);
        byte[] valid = click("e1", 2_000, "q1", "h1", 1).bytes();
        RawAction raw = Actions.rawOf(Arrays.copyOf(valid, valid.length + 2), 0);
        assertEquals(2_000, raw.eventTime);
        send(raw);
        Output output = rejected().get(0);
        assertEquals(Output.Sink.DLQ, output.sink);
        assertTrue(((String) Records.decode(output).get("reason")).contains("left over"));
    }

    @Test
    void onTimeBytesWithReadableLeadingFieldsAreJudgedByTheFullDecode() throws Exception {
        byte[] valid = click("e1", 2_000, "q1", "h1", 1).bytes();
        send(Actions.rawOf(Arrays.copyOf(valid, valid.length + 2), 0));
        List<Output> outputs = harness.outputs();
        assertEquals(1, outputs.size());
        assertEquals(Output.Sink.DLQ, outputs.get(0).sink, "the labeller's full decode finds the trailing bytes");
    }
}
