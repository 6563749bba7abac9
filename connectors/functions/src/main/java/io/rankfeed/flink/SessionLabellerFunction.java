package io.rankfeed.flink;

import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The labeller, keyed by (user_id, session_id): decodes each action once, drops duplicates by event_id, buffers
 * actions until the watermark passes them, and hands them in event-time order to
 * {@link SessionLabelling}. One event-time timer per session, at its next deadline (the earliest
 * pending action, the open click's decision at click + T, or the close at last action + gap).
 *
 * <p>State is one {@link LabellingSession} object per key, mutated in place and written back after
 * each step, and its result lists in map state beside it ({@link ResultListStore}), read only by the
 * steps that touch them: with heap state the backend serializes them only for snapshots; with
 * RocksDB on every write ({@code labelling_state_backend}), so the small session is what each
 * action costs. The key's state goes when the session has closed and
 * nothing is pending. Late actions and undecodable bytes go to the late and dead-letter outputs with
 * the reason ({@link LateRouter}).
 *
 * <p>Its second input is the broadcast stream of erased users ({@link ErasureRequests}): an erased user's
 * action is dropped before anything else looks at it ({@link ErasedUsers}).
 */
public class SessionLabellerFunction extends KeyedBroadcastProcessFunction<String, RawAction, String, Output> {
    private static final long serialVersionUID = 1L;
    private static final String HEARTBEAT = "heartbeat";

    private final LabellingConfig config;
    private transient ValueState<LabellingSession> sessions;
    private transient ResultListStore lists;
    private transient ActionDecoder decoder;
    private transient OutputEncoder encoder;
    private transient LabellingMetrics metrics;
    private transient SessionLabelling labelling;
    private transient LateRouter lateRouter;
    private transient ErasedUsers erased;
    /** The watermark of the timers firing now, and of the step before (not in state: after a restore both start unknown). */
    private transient long watermark;
    private transient long previousWatermark;

    public SessionLabellerFunction(LabellingConfig config) {
        this.config = config;
    }

    @Override
    public void open(OpenContext context) {
        sessions = getRuntimeContext().getState(
                new ValueStateDescriptor<>("session", LabellingSessionSerializer.INSTANCE));
        lists = new ResultListStore.OfMapState(getRuntimeContext().getMapState(
                new MapStateDescriptor<>("result-lists", StringSerializer.INSTANCE, ResultListSerializer.INSTANCE)));
        decoder = new ActionDecoder();
        encoder = new OutputEncoder();
        metrics = new LabellingMetrics(getRuntimeContext().getMetricGroup());
        labelling = new SessionLabelling(config, encoder, metrics);
        lateRouter = new LateRouter(config.watermarkDelayMs, decoder, encoder, metrics);
        erased = new ErasedUsers(getRuntimeContext().getMetricGroup());
        watermark = Long.MIN_VALUE;
        previousWatermark = Long.MIN_VALUE;
    }

    @Override
    public void processElement(RawAction raw, ReadOnlyContext ctx, Collector<Output> out) throws Exception {
        if (erased.drops(raw, ctx.getBroadcastState(ErasedUsers.ERASED))) {
            return;
        }
        if (lateRouter.reject(raw, ctx.timerService().currentWatermark(), out::collect)) {
            return;
        }
        ActionDecoder.Decoded decoded;
        try {
            decoded = decoder.decodeAny(raw.value);
        } catch (ActionDecoder.InvalidAction invalid) {
            metrics.poison.inc();
            out.collect(encoder.rejected(Output.Sink.DLQ, invalid.getMessage(), raw, false));
            return;
        }
        GenericRecord record = decoded.record;
        if (decoded.upgraded) {
            metrics.upgraded.inc();
            raw.value = decoded.bytes; // the clean topic and the lake read one contract version
        }
        if (HEARTBEAT.equals(record.get("action_type").toString())) {
            return; // a heartbeat's only job was to move the watermark, which happened upstream
        }
        LabellingSession session = sessions.value();
        if (session == null) {
            session = new LabellingSession();
        }
        Action action = Action.of(record, raw);
        if (!session.seen.add(action.eventId)) {
            metrics.duplicates.inc();
            session.pending.replaceIfEarlier(action);
        } else {
            session.pending.add(action);
        }
        schedule(session, ctx.timerService());
        sessions.update(session);
    }

    @Override
    public void processBroadcastElement(String user, Context ctx, Collector<Output> out) throws Exception {
        erased.add(user, ctx.getBroadcastState(ErasedUsers.ERASED));
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Output> out) throws Exception {
        LabellingSession session = sessions.value();
        if (session == null) {
            return;
        }
        session.timer = LabellingSession.NO_TIMER;
        long now = ctx.timerService().currentWatermark();
        if (now != watermark) {
            previousWatermark = watermark;
            watermark = now;
        }
        session.attach(lists);
        labelling.advance(session, now, previousWatermark, out::collect);
        session.flushLists();
        if (session.isFinished()) {
            sessions.clear();
        } else {
            schedule(session, ctx.timerService());
            sessions.update(session); // a no-op on the heap; RocksDB keeps only what is written back
        }
    }

    /** Keeps exactly one timer per key, at the session's next deadline. */
    private void schedule(LabellingSession session, TimerService timers) {
        long next = labelling.nextDeadline(session);
        if (next == session.timer) {
            return;
        }
        if (session.timer != LabellingSession.NO_TIMER) {
            timers.deleteEventTimeTimer(session.timer);
        }
        session.timer = next == Long.MAX_VALUE ? LabellingSession.NO_TIMER : next;
        if (session.timer != LabellingSession.NO_TIMER) {
            timers.registerEventTimeTimer(next);
        }
    }
}
