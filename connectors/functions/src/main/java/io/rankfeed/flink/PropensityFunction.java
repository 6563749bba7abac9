package io.rankfeed.flink;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * θ estimated continuously from result lists, both methods in one key ({@link #KEY}): each list's
 * impressions at positions 1..max_position are counted into its tumbling event-time window
 * (randomized lists for {@code randomized}, every list per (destination|hotel) pair for {@code em}).
 *
 * <p>Publication points are those of the SQL version: when a watermark step completes windows
 * (an event-time timer per window), they are folded in and each method publishes once, as of the
 * last of them. A window already behind the watermark is dropped, as the window operator did. While
 * catching up, points closer than {@code min_publish_interval_ms} of processing time are coalesced
 * into one publication (a processing-time timer), whose EM runs the iterations of every point it
 * stands for (up to {@value #MAX_COALESCED}), so the estimate does the work it did before.
 */
public class PropensityFunction extends KeyedProcessFunction<String, ExposureList, Output> {
    private static final long serialVersionUID = 1L;
    static final String KEY = "propensities";
    static final String RANDOMIZED = "randomized";
    static final String EM = "em";
    static final int MAX_COALESCED = 50;

    private final FeaturesConfig.Propensities config;
    private transient ValueState<PropensityState> state;
    private transient FeaturesEncoder encoder;

    public PropensityFunction(FeaturesConfig config) {
        this.config = config.propensities;
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("propensities", new PropensityState.Serializer()));
        encoder = new FeaturesEncoder();
    }

    @Override
    public void processElement(ExposureList list, Context ctx, Collector<Output> out) throws Exception {
        long size = config.windowMs;
        long window = Math.floorDiv(list.closedAt, size) * size + size - 1;
        if (window <= ctx.timerService().currentWatermark()) {
            return;
        }
        PropensityState counts = state.value();
        if (counts == null || counts.em.positions != config.maxPosition) {
            // First list, or restored from a job that estimated another number of positions: start over.
            counts = new PropensityState(config.maxPosition);
            state.update(counts);
        }
        boolean randomized = Boolean.TRUE.equals(list.randomized);
        String destination = list.destination == null ? "" : list.destination;
        boolean counted = false;
        for (int i = 0; i < list.hotelIds.length; i++) {
            int position = list.positions[i];
            if (position < 1 || position > config.maxPosition) {
                continue;
            }
            boolean clicked = list.outcomes[i] != null;
            counts.em.count(window, destination + "|" + list.hotelIds[i], position, clicked);
            if (randomized) {
                counts.randomized.count(window, null, position, clicked);
            }
            counted = true;
        }
        if (counted) {
            ctx.timerService().registerEventTimeTimer(window);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Output> out) throws Exception {
        PropensityState counts = state.value();
        if (counts == null) {
            return;
        }
        if (ctx.timeDomain() == TimeDomain.EVENT_TIME) {
            counts.randomized.fold(timestamp, config.halfLifeMs);
            counts.em.fold(timestamp, config.halfLifeMs);
            long watermark = ctx.timerService().currentWatermark();
            if (counts.randomized.waiting(watermark) || counts.em.waiting(watermark)) {
                return; // a later window of this watermark step publishes
            }
            counts.randomized.point();
            counts.em.point();
        }
        publish(RANDOMIZED, counts.randomized, ctx, out);
        publish(EM, counts.em, ctx, out);
    }

    private void publish(String method, MethodCounts counts, OnTimerContext ctx, Collector<Output> out) {
        if (counts.points == 0) {
            return;
        }
        long now = ctx.timerService().currentProcessingTime();
        long next = counts.publishedAtMs == Long.MIN_VALUE ? now : counts.publishedAtMs + config.minPublishIntervalMs;
        if (now < next) {
            ctx.timerService().registerProcessingTimeTimer(next);
            return;
        }
        int iterations = config.emIterations * Math.min(counts.points, MAX_COALESCED);
        counts.points = 0;
        counts.publishedAtMs = now;
        Output estimate = estimate(method, counts, iterations);
        if (estimate != null) {
            out.collect(estimate);
        }
    }

    /** The estimate as of the last publication point, or null when θ_k/θ_1 is undefined. */
    private Output estimate(String method, MethodCounts counts, int iterations) {
        long at = counts.pointAt;
        counts.decayTo(at, config.halfLifeMs);
        double[] theta;
        double[][] band = null;
        if (RANDOMIZED.equals(method)) {
            theta = Propensities.thetaFromCounts(counts.impressions, counts.clicks, config.priorStrength, config.priorEta);
            band = Propensities.band(counts.impressions, counts.clicks, theta, config.priorStrength, config.priorEta);
        } else {
            theta = Propensities.em(counts, at, iterations, config.priorEta, config.halfLifeMs);
            counts.theta = theta;
        }
        for (double value : theta) {
            if (!(value > 0) || Double.isInfinite(value)) {
                return null; // no click at position 1 and no prior: θ_k/θ_1 is undefined, publish nothing
            }
        }
        return encoder.propensities(method, at, theta, band, counts, config.maxWeight);
    }
}
