package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.stream.Collectors;
import org.apache.flink.streaming.util.BroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;

/** The erasure filter in the broadcast operator harness: an erased user's actions go nowhere, others pass. */
class ErasureFilterTest {
    private final LeadingFields.Reader reader = new LeadingFields.Reader();

    private RawAction action(String eventId, String user) {
        byte[] bytes = Actions.back(eventId, 1_700_000_000_000L).set("user_id", user).bytes();
        return new RawAction(bytes, 0, 0, reader.read(bytes));
    }

    @Test
    void actionsOfAnErasedUserAreDroppedFromTheRequestOn() throws Exception {
        try (BroadcastOperatorTestHarness<RawAction, String, RawAction> harness =
                ProcessFunctionTestHarnesses.forBroadcastProcessFunction(new ErasureFilter(), ErasureFilter.ERASED)) {
            harness.processElement(action("before", "erased-user"), 1);
            harness.processBroadcastElement("erased-user", 2);
            harness.processElement(action("after", "erased-user"), 3);
            harness.processElement(action("other", "another-user"), 4);
            RawAction poison = new RawAction(new byte[] {1}, 0, 0, reader.read(new byte[] {1}));
            harness.processElement(poison, 5);
            List<String> passed = harness.extractOutputValues().stream()
                    .map(raw -> raw.eventId == null ? "poison" : raw.eventId)
                    .collect(Collectors.toList());
            assertEquals(List.of("before", "other", "poison"), passed);
        }
    }

    @Test
    void theUserIsReadFromTheLabellersKey() {
        assertEquals("u-1", ErasureFilter.userId(action("e", "u-1")));
    }
}
