package io.rankfeed.flink;

import java.time.Duration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Real-time features per hotel, keyed by hotel: every exposure is counted into the hotel's
 * {@link HotelCounters} on the heap, in place (no state read or written per element beyond the
 * map lookup), debiased by θ_k of the submission ({@link Examination}).
 *
 * <p>Emission is throttled in processing time: a hotel that changed is written once at the end of
 * the current {@code emit_interval_ms} (timers aligned to the interval, so all hotels changed in
 * one interval are written together), each changed slot as one record. Records scale with the
 * catalogue, not with traffic, however fast a replay runs; the last record of each key holds the
 * same values the per-exposure aggregation would.
 */
public class HotelFeaturesFunction extends KeyedProcessFunction<String, HotelExposure, Output> {
    private static final long serialVersionUID = 1L;
    /** A hotel not shown for this long (processing time) is forgotten. */
    static final Duration TTL = Duration.ofDays(30);

    private final double halfLifeMs;
    private final long intervalMs;
    private final Examination examination;
    private transient ValueState<HotelCounters> counters;
    private transient FeaturesEncoder encoder;

    public HotelFeaturesFunction(FeaturesConfig config) {
        this.halfLifeMs = config.features.halfLifeMs;
        this.intervalMs = config.features.emitIntervalMs;
        this.examination = config.examination();
    }

    @Override
    public void open(OpenContext context) {
        ValueStateDescriptor<HotelCounters> descriptor =
                new ValueStateDescriptor<>("hotel-counters", TypeInformation.of(HotelCounters.class));
        descriptor.enableTimeToLive(StateTtlConfig.newBuilder(TTL).build());
        counters = getRuntimeContext().getState(descriptor);
        encoder = new FeaturesEncoder();
    }

    @Override
    public void processElement(HotelExposure exposure, Context ctx, Collector<Output> out) throws Exception {
        HotelCounters hotel = counters.value();
        if (hotel == null) {
            hotel = new HotelCounters();
            counters.update(hotel);
        }
        hotel.add(exposure, examination.theta(exposure.position), halfLifeMs);
        if (hotel.emitAt == 0) {
            long now = ctx.timerService().currentProcessingTime();
            hotel.emitAt = (now / intervalMs + 1) * intervalMs;
            ctx.timerService().registerProcessingTimeTimer(hotel.emitAt);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Output> out) throws Exception {
        HotelCounters hotel = counters.value();
        if (hotel == null) {
            return;
        }
        for (int i = 0; i < hotel.destinations.length; i++) {
            if (hotel.dirty[i]) {
                hotel.dirty[i] = false;
                out.collect(encoder.hotelFeatures(hotel, i));
            }
        }
        hotel.emitAt = 0;
        counters.update(hotel); // refreshes the TTL once per emission, not per exposure
    }
}
