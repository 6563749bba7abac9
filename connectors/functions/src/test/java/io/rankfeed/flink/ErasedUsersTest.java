package io.rankfeed.flink;

import static io.rankfeed.flink.Actions.book;
import static io.rankfeed.flink.Actions.click;
import static io.rankfeed.flink.Actions.hotels;
import static io.rankfeed.flink.Actions.search;
import static io.rankfeed.flink.Configs.GAP;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.junit.jupiter.api.Test;

/**
 * Erased users in the labeller (its broadcast input, in the keyed two-input harness): from the request on, an
 * erased user's actions go nowhere, not even to late or DLQ; other users and poison are unaffected.
 */
class ErasedUsersTest {
    private static final String ERASED = "erased-user";
    private static final String KEPT = "kept-user";

    private static RawAction of(String user, Actions.Builder action) {
        return action.set("user_id", user).raw();
    }

    /** Every output, its sink, key and bytes: two runs compare equal only if they wrote the same records. */
    private static List<String> describe(List<Output> outputs) {
        List<String> described = new ArrayList<>();
        for (Output output : outputs) {
            String key = output.key == null ? "" : new String(output.key, StandardCharsets.UTF_8);
            described.add(output.sink + " " + key + " " + Base64.getEncoder().encodeToString(output.value));
        }
        return described;
    }

    private static final List<RawAction> BEFORE_REQUEST = List.of(
            of(ERASED, search("e1", 0, "q1", hotels(3))), of(KEPT, search("k1", 0, "q1", hotels(3))));
    private static final List<RawAction> ERASED_AFTER_REQUEST = List.of(
            of(ERASED, click("e2", 10_000, "q1", "h1", 1)),
            of(ERASED, book("e3", 12_000, "q1", "h1", 1)),
            of(ERASED, click("e4", 1_000, "q1", "h2", 2))); // behind the watermark: late for anyone else
    private static final List<RawAction> KEPT_AFTER_REQUEST = List.of(of(KEPT, click("k2", 10_000, "q1", "h1", 1)));

    /** The labeller's outputs when the erased user's later actions arrive (or not) between the kept user's. */
    private static List<String> run(boolean withErasedActions) throws Exception {
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            for (RawAction raw : BEFORE_REQUEST) {
                labeller.send(raw);
            }
            labeller.erase(ERASED).watermark(5_000);
            if (withErasedActions) {
                for (RawAction raw : ERASED_AFTER_REQUEST) {
                    labeller.send(raw);
                }
            }
            for (RawAction raw : KEPT_AFTER_REQUEST) {
                labeller.send(raw);
            }
            labeller.watermark(12_000 + GAP);
            return describe(labeller.outputs());
        }
    }

    @Test
    void anErasedUsersActionsFromTheRequestOnProduceNoOutputAtAll() throws Exception {
        List<String> with = run(true);
        assertEquals(run(false), with);
        assertTrue(with.stream().anyMatch(line -> line.startsWith("LTR")), with.toString());
    }

    @Test
    void otherUsersAndActionsBeforeTheRequestAreLabelled() throws Exception {
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            labeller.send(BEFORE_REQUEST.get(0)).send(BEFORE_REQUEST.get(1)).erase(ERASED).watermark(5_000);
            ERASED_AFTER_REQUEST.forEach(raw -> send(labeller, raw));
            KEPT_AFTER_REQUEST.forEach(raw -> send(labeller, raw));
            labeller.watermark(12_000 + GAP);
            List<Object> clean = Records.column(labeller.records(Output.Sink.CLEAN), "event_id");
            assertEquals(List.of("e1", "k1", "k2"), clean.stream().sorted().collect(Collectors.toList()));
            assertEquals(List.of(), labeller.records(Output.Sink.LATE));
        }
    }

    @Test
    void poisonWithNoReadableUserPassesOnToTheDeadLetters() throws Exception {
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            labeller.erase(ERASED).send(Actions.poison(new byte[] {1}, Actions.SESSION, 1_000));
            List<Output.Sink> sinks = labeller.outputs().stream().map(o -> o.sink).collect(Collectors.toList());
            assertEquals(List.of(Output.Sink.DLQ), sinks);
        }
    }

    @Test
    void theErasedUsersSurviveASnapshotAndRestore() throws Exception {
        OperatorSubtaskState state;
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            labeller.erase(ERASED);
            state = labeller.snapshot(1, 1);
        }
        try (Labeller restored = new Labeller(Configs.defaults(), state)) {
            restored.send(of(ERASED, search("e1", 0, "q1", hotels(3))))
                    .send(of(KEPT, search("k1", 0, "q1", hotels(3))))
                    .watermark(GAP);
            assertEquals(List.of("k1"), Records.column(restored.records(Output.Sink.CLEAN), "event_id"));
        }
    }

    @Test
    void theLabellersBroadcastStateHoldsTheUsersRead() throws Exception {
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            labeller.erase(ERASED);
            BroadcastState<String, Boolean> erased = broadcastState(labeller);
            assertTrue(erased.contains(ERASED));
            assertFalse(erased.contains(KEPT));
        }
    }

    @Test
    void anErasureRequestDoesNotHoldTheActionsWatermarkBack() throws Exception {
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            labeller.send(of(KEPT, search("k1", 0, "q1", hotels(3)))).erase(ERASED).watermark(GAP);
            assertTrue(labeller.harness.getOutput().contains(new Watermark(GAP)), "the actions' watermark is forwarded");
            assertEquals(List.of("k1"), Records.column(labeller.records(Output.Sink.CLEAN), "event_id"));
        }
    }

    @Test
    void dropsAndRequestsAreCounted() throws Exception {
        Map<String, Counter> counters = new HashMap<>();
        ErasedUsers users = new ErasedUsers(new UnregisteredMetricsGroup() {
            @Override
            public Counter counter(String name) {
                return counters.computeIfAbsent(name, unused -> new SimpleCounter());
            }
        });
        try (Labeller labeller = new Labeller(Configs.defaults())) {
            BroadcastState<String, Boolean> erased = broadcastState(labeller);
            users.add(ERASED, erased);
            assertTrue(users.drops(of(ERASED, click("e2", 10_000, "q1", "h1", 1)), erased));
            assertFalse(users.drops(of(KEPT, click("k2", 10_000, "q1", "h1", 1)), erased));
            assertFalse(users.drops(Actions.poison(new byte[] {1}, Actions.SESSION, 1_000), erased));
        }
        assertEquals(1, counters.get("erasureRequestsReceived").getCount());
        assertEquals(1, counters.get("erasedActionsDropped").getCount());
    }

    @Test
    void theUserIsReadFromTheLabellersKey() {
        assertEquals("u-1", ErasedUsers.userId(of("u-1", search("e", 0, "q1", hotels(1)))));
        assertNull(ErasedUsers.userId(Actions.poison(new byte[] {1}, Actions.SESSION, 1_000)));
    }

    private static BroadcastState<String, Boolean> broadcastState(Labeller labeller) throws Exception {
        return ((AbstractStreamOperator<?>) labeller.harness.getOperator())
                .getOperatorStateBackend().getBroadcastState(ErasedUsers.ERASED);
    }

    private static void send(Labeller labeller, RawAction raw) {
        try {
            labeller.send(raw);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
