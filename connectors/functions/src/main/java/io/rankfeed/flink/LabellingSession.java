package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What the labeller keeps per session key, as heap objects mutated in place (with heap state the
 * backend serializes them only for snapshots).
 */
final class LabellingSession {
    boolean open;
    String sessionId;
    String userId;
    String device;
    long start;
    long end;
    int actions;
    int searches;
    int clicks;
    int books;
    int quickBacks;
    final List<ResultList> resultLists = new ArrayList<>();
    /** The last click, waiting for the next action (its dwell) and for its quick-back decision. */
    OpenClick openClick;
    final PendingActions pending = new PendingActions();
    /** Event ids of this session's actions (and of pending ones after a close), for dedup. */
    final Set<String> seen = new HashSet<>();
    static final long NO_TIMER = Long.MIN_VALUE;
    /** The one event-time timer registered for this key; {@link #NO_TIMER} when none. */
    long timer = NO_TIMER;

    static final class OpenClick {
        String eventId;
        String searchId;
        String hotelId;
        Integer position;
        long time;
        Double clientDuration;
        boolean decided;

        /** The click (or book) {@code action}, at the position its list showed the hotel. */
        static OpenClick of(LabellingSession session, Action action) {
            OpenClick click = new OpenClick();
            click.eventId = action.eventId;
            click.searchId = action.searchId;
            click.hotelId = action.hotelId;
            click.position = session.positionOf(action.searchId, action.hotelId, action.position);
            click.time = action.time;
            click.clientDuration = action.duration;
            return click;
        }
    }

    /** The list {@code searchId} names; the latest list when the action names none. */
    ResultList resultList(String searchId) {
        if (searchId == null) {
            return resultLists.isEmpty() ? null : resultLists.get(resultLists.size() - 1);
        }
        for (ResultList list : resultLists) {
            if (list.searchId.equals(searchId)) {
                return list;
            }
        }
        return null;
    }

    /** The outcome of {@code hotelId} in {@code searchId}'s list, created on first use; null without such a list. */
    ResultList.Outcome outcome(String searchId, String hotelId) {
        ResultList list = resultList(searchId);
        return list == null || hotelId == null ? null : list.outcome(hotelId);
    }

    /** Where {@code hotelId} was shown in {@code searchId}'s list; {@code reported} when the list does not say. */
    Integer positionOf(String searchId, String hotelId, Integer reported) {
        ResultList list = resultList(searchId);
        Integer shown = list == null || hotelId == null ? null : list.positionOf(hotelId);
        return shown != null ? shown : reported;
    }

    /** Nothing open, nothing pending: the key's state can go. */
    boolean isFinished() {
        return !open && pending.isEmpty();
    }
}
