package io.rankfeed.flink;

import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.state.MapState;

/**
 * Where a session's result lists live between steps. In the job they are keyed map state beside
 * the session ({@link OfMapState}), so that the session itself stays small: with RocksDB each
 * action reads and writes the session, and only a step that touches a list reads and writes that
 * list (each holds ~20 shown hotels and their outcomes, most of a session's bytes). Tests use
 * {@link InMemory}.
 */
interface ResultListStore {
    /** The list stored under {@code key} for the current session key, or null. */
    ResultList get(String key);

    void put(String key, ResultList list);

    /** Removes every list of the current session key. */
    void clear();

    /** Keyed map state; a state access failure is fatal for the task, so it is rethrown unchecked. */
    final class OfMapState implements ResultListStore {
        private final MapState<String, ResultList> lists;

        OfMapState(MapState<String, ResultList> lists) {
            this.lists = lists;
        }

        @Override
        public ResultList get(String key) {
            try {
                return lists.get(key);
            } catch (Exception e) {
                throw new IllegalStateException("cannot read result list " + key, e);
            }
        }

        @Override
        public void put(String key, ResultList list) {
            try {
                lists.put(key, list);
            } catch (Exception e) {
                throw new IllegalStateException("cannot write result list " + key, e);
            }
        }

        @Override
        public void clear() {
            lists.clear();
        }
    }

    /** A plain map, for tests and for a session used outside a keyed operator. */
    final class InMemory implements ResultListStore {
        final Map<String, ResultList> lists = new HashMap<>();

        @Override
        public ResultList get(String key) {
            return lists.get(key);
        }

        @Override
        public void put(String key, ResultList list) {
            lists.put(key, list);
        }

        @Override
        public void clear() {
            lists.clear();
        }
    }
}
