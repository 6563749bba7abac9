package io.rankfeed.flink;

import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

/**
 * The labeller's erasure check: the users read from the erasure-requests topic ({@link ErasureRequests}) are
 * broadcast to every labeller subtask and kept in broadcast state, so a restored job still knows them. An
 * action read after its user's request reached the subtask (each request read is counted in
 * {@code erasureRequestsReceived}, since the task started) is counted in {@code erasedActionsDropped} and goes
 * nowhere: not to the clean topic, the labels, the late topic or the dead letters. Poison (no readable user)
 * is never dropped here: the labeller sends it to the dead letters.
 *
 * <p>The check lives in the keyed labeller, not in an operator of its own before the keyBy, so the raw actions
 * cross the network once (the keyBy) rather than twice.
 */
final class ErasedUsers {
    /** The erased users (pseudonyms); the value is unused. */
    static final MapStateDescriptor<String, Boolean> ERASED = new MapStateDescriptor<>(
            "erased-users", BasicTypeInfo.STRING_TYPE_INFO, BasicTypeInfo.BOOLEAN_TYPE_INFO);

    private final Counter dropped;
    private final Counter received;

    ErasedUsers(MetricGroup group) {
        dropped = group.counter("erasedActionsDropped");
        received = group.counter("erasureRequestsReceived");
    }

    /** True, and counted, when the action's user is erased: the caller drops the action. */
    boolean drops(RawAction action, ReadOnlyBroadcastState<String, Boolean> erased) throws Exception {
        String user = userId(action);
        if (user != null && erased.contains(user)) {
            dropped.inc();
            return true;
        }
        return false;
    }

    /** Remembers an erased user (a request read from the topic). */
    void add(String user, BroadcastState<String, Boolean> erased) throws Exception {
        erased.put(user, Boolean.TRUE);
        received.inc();
    }

    /** The user id of the labeller's key (user_id, separator, session_id), null for poison. */
    static String userId(RawAction action) {
        if (action.sessionKey == null) {
            return null;
        }
        int separator = action.sessionKey.indexOf(RawAction.KEY_SEPARATOR);
        return separator < 0 ? null : action.sessionKey.substring(0, separator);
    }
}
