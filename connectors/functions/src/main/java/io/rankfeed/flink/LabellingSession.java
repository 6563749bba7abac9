package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the labeller keeps per session key, as heap objects mutated in place (with heap state the
 * backend serializes them only for snapshots). The result lists are kept apart, in a {@link
 * ResultListStore}: the session names them ({@link #listKeys}) and a step reads only the lists it
 * touches ({@link #attach}, {@link #resultList}, {@link #flushLists}).
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
    /** This session's result lists by key (search_id, or the event_id of impressions without one), in order. */
    final List<String> listKeys = new ArrayList<>();
    /** Lists restored inline from a snapshot of layout 1; moved to the store by {@link #attach}. */
    final List<ResultList> inlineLists = new ArrayList<>();
    /** The lists this step read or created, written back by {@link #flushLists} (not state). */
    private final transient Map<String, ResultList> loaded = new HashMap<>();
    private transient ResultListStore store = new ResultListStore.InMemory();
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

    /** Reads this step's lists from {@code store}; lists restored inline move there at {@link #flushLists}. */
    void attach(ResultListStore store) {
        this.store = store;
        for (ResultList list : inlineLists) {
            loaded.put(list.searchId, list);
        }
        inlineLists.clear();
    }

    /** Writes back every list this step read or created. */
    void flushLists() {
        for (Map.Entry<String, ResultList> entry : loaded.entrySet()) {
            store.put(entry.getKey(), entry.getValue());
        }
        loaded.clear();
    }

    /** The list {@code searchId} names; the latest list when the action names none. */
    ResultList resultList(String searchId) {
        String key = searchId != null ? searchId : listKeys.isEmpty() ? null : listKeys.get(listKeys.size() - 1);
        if (key == null) {
            return null;
        }
        ResultList list = loaded.get(key);
        if (list == null && listKeys.contains(key)) {
            list = store.get(key);
            if (list == null) {
                throw new IllegalStateException("session " + sessionId + " names result list " + key + " but none is stored");
            }
            loaded.put(key, list);
        }
        return list;
    }

    /** Every list of the session, in the order they were shown. */
    List<ResultList> resultLists() {
        List<ResultList> lists = new ArrayList<>(listKeys.size());
        for (String key : listKeys) {
            lists.add(resultList(key));
        }
        return lists;
    }

    /** A new list, under its {@code searchId}. */
    void addList(ResultList list) {
        listKeys.add(list.searchId);
        loaded.put(list.searchId, list);
    }

    /** Forgets every list (the session closed, or a new one starts under the same key). */
    void clearLists() {
        if (!listKeys.isEmpty()) {
            store.clear();
        }
        listKeys.clear();
        loaded.clear();
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
