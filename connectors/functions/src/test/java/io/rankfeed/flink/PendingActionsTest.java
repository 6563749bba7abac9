package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The ordering buffer: (event time, event_id) order, release at the watermark, dedup by the earliest copy. */
class PendingActionsTest {

    private static Action action(String eventId, long time) {
        Action action = new Action();
        action.eventId = eventId;
        action.time = time;
        return action;
    }

    private static List<String> ids(List<Action> actions) {
        List<String> ids = new ArrayList<>();
        for (Action action : actions) {
            ids.add(action.eventId + "@" + action.time);
        }
        return ids;
    }

    @Test
    void emptyBuffer() {
        PendingActions pending = new PendingActions();
        assertTrue(pending.isEmpty());
        assertEquals(Long.MAX_VALUE, pending.earliest());
        assertEquals(List.of(), pending.pollDue(Long.MAX_VALUE));
        assertEquals(List.of(), pending.eventIds());
    }

    @Test
    void keepsEventTimeOrderWhateverTheArrivalOrder() {
        PendingActions pending = new PendingActions();
        pending.add(action("c", 30));
        pending.add(action("a", 10));
        pending.add(action("b", 20));
        assertEquals(10, pending.earliest());
        assertEquals(List.of("a", "b", "c"), pending.eventIds());
    }

    @Test
    void equalTimesAreOrderedByEventId() {
        PendingActions pending = new PendingActions();
        pending.add(action("z", 10));
        pending.add(action("m", 10));
        pending.add(action("a", 10));
        assertEquals(List.of("a", "m", "z"), pending.eventIds());
    }

    @Test
    void pollDueReleasesEverythingAtOrBeforeTheWatermarkInOrder() {
        PendingActions pending = new PendingActions();
        pending.add(action("c", 30));
        pending.add(action("b", 20));
        pending.add(action("a", 10));
        assertEquals(List.of(), pending.pollDue(9));
        assertEquals(List.of("a@10", "b@20"), ids(pending.pollDue(20)), "inclusive of the watermark");
        assertEquals(List.of("c"), pending.eventIds(), "released actions are removed");
        assertEquals(30, pending.earliest());
        assertEquals(List.of("c@30"), ids(pending.pollDue(1_000)));
        assertTrue(pending.isEmpty());
    }

    @Test
    void anEarlierCopyReplacesThePendingOne() {
        PendingActions pending = new PendingActions();
        pending.add(action("a", 10));
        pending.add(action("b", 20));
        assertTrue(pending.replaceIfEarlier(action("b", 5)));
        assertEquals(List.of("b@5", "a@10"), ids(pending.pollDue(100)), "re-sorted at the earlier time, once");
    }

    @Test
    void aLaterOrEqualCopyOrAnUnknownIdChangesNothing() {
        PendingActions pending = new PendingActions();
        pending.add(action("a", 10));
        assertFalse(pending.replaceIfEarlier(action("a", 11)));
        assertFalse(pending.replaceIfEarlier(action("a", 10)));
        assertFalse(pending.replaceIfEarlier(action("x", 1)), "not pending: nothing to replace");
        assertEquals(List.of("a@10"), ids(pending.pollDue(100)));
    }
}
