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
import java.util.Queue;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Before the labeller: actions at or behind the watermark to LATE, unreadable bytes to DLQ, the rest on. */
class LateRouterTest {
    private OneInputStreamOperatorTestHarness<RawAction, RawAction> harness;

    @BeforeEach
    void open() throws Exception {
        harness = ProcessFunctionTestHarnesses.forProcessFunction(new LateRouter(5_000));
    }

    @AfterEach
    void close() throws Exception {
        harness.close();
    }

    private void send(RawAction raw) throws Exception {
        harness.processElement(raw, raw.eventTime);
    }

    private List<Output> rejected() {
        Queue<StreamRecord<Output>> side = harness.getSideOutput(LateRouter.REJECTED);
        List<Output> outputs = new ArrayList<>();
        if (side != null) {
            for (StreamRecord<Output> record : side) {
                outputs.add(record.getValue());
            }
        }
        return outputs;
    }

    @Test
    void actionsAfterTheWatermarkPassOnUntouched() throws Exception {
        harness.processWatermark(10_000);
        RawAction raw = click("e1", 10_001, "q1", "h1", 1).raw();
        send(raw);
        List<RawAction> passed = harness.extractOutputValues();
        assertEquals(1, passed.size());
        RawAction out = passed.get(0);
        assertArrayEquals(raw.value, out.value);
        assertEquals(raw.eventTime, out.eventTime);
        assertEquals(raw.sessionId, out.sessionId);
        assertEquals(raw.eventId, out.eventId);
        assertEquals(raw.offset, out.offset);
        assertEquals(List.of(), rejected());
    }

    @Test
    void anActionAtTheWatermarkIsLate() throws Exception {
        harness.processWatermark(10_000);
        RawAction raw = click("e1", 10_000, "q1", "h1", 1).partition(2).raw();
        send(raw);
        assertEquals(List.of(), harness.extractOutputValues());
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
        harness.processWatermark(10_000);
        send(search("e1", 4_000, "q1", Actions.hotels(2)).raw());
        assertEquals(Output.Sink.LATE, rejected().get(0).sink);
        assertEquals(List.of(), harness.extractOutputValues());
    }

    @Test
    void unreadableLeadingFieldsGoToTheDeadLetterOutputWhateverTheWatermark() throws Exception {
        byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x01};
        RawAction raw = Actions.rawOf(garbage, 1);
        assertNull(raw.sessionId, "the source could not read the leading fields");
        send(raw); // no watermark yet
        assertEquals(List.of(), harness.extractOutputValues());
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
        harness.processWatermark(10_000);
        byte[] valid = click("e1", 2_000, "q1", "h1", 1).bytes();
        RawAction raw = Actions.rawOf(Arrays.copyOf(valid, valid.length + 2), 0);
        assertEquals(2_000, raw.eventTime);
        send(raw);
        Output output = rejected().get(0);
        assertEquals(Output.Sink.DLQ, output.sink);
        assertTrue(((String) Records.decode(output).get("reason")).contains("left over"));
    }

    @Test
    void onTimeBytesWithReadableLeadingFieldsPassOnForTheLabellerToJudge() throws Exception {
        byte[] valid = click("e1", 2_000, "q1", "h1", 1).bytes();
        send(Actions.rawOf(Arrays.copyOf(valid, valid.length + 2), 0));
        assertEquals(1, harness.extractOutputValues().size());
        assertEquals(List.of(), rejected());
    }
}
