package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The ordering buffer: actions received but not yet processed, sorted by (event time, event_id),
 * released when the watermark passes them. Processing in that order makes labels deterministic
 * whatever the arrival order, and a replay gives the same labels.
 */
final class PendingActions {
    static final Comparator<Action> ORDER =
            Comparator.comparingLong((Action a) -> a.time).thenComparing(a -> a.eventId);

    /** Sorted by {@link #ORDER}; package-private for {@link LabellingSessionSerializer}. */
    final ArrayList<Action> actions = new ArrayList<>();

    void add(Action action) {
        int at = 0;
        while (at < actions.size() && ORDER.compare(actions.get(at), action) <= 0) {
            at++;
        }
        actions.add(at, action);
    }

    /**
     * Dedup keeps the first copy by event time: an earlier copy of a still-pending action replaces
     * it. Returns whether it did (the caller may need an earlier timer).
     */
    boolean replaceIfEarlier(Action copy) {
        for (int i = 0; i < actions.size(); i++) {
            Action pending = actions.get(i);
            if (pending.eventId.equals(copy.eventId) && copy.time < pending.time) {
                actions.remove(i);
                add(copy);
                return true;
            }
        }
        return false;
    }

    /** Removes and returns, in order, every action at or before {@code watermark}. */
    List<Action> pollDue(long watermark) {
        int due = 0;
        while (due < actions.size() && actions.get(due).time <= watermark) {
            due++;
        }
        List<Action> released = new ArrayList<>(actions.subList(0, due));
        actions.subList(0, due).clear();
        return released;
    }

    /** Event time of the earliest pending action; {@link Long#MAX_VALUE} when none. */
    long earliest() {
        return actions.isEmpty() ? Long.MAX_VALUE : actions.get(0).time;
    }

    boolean isEmpty() {
        return actions.isEmpty();
    }

    /** Ids of the pending actions (still needed for dedup after their session closed). */
    List<String> eventIds() {
        List<String> ids = new ArrayList<>(actions.size());
        for (Action action : actions) {
            ids.add(action.eventId);
        }
        return ids;
    }
}
