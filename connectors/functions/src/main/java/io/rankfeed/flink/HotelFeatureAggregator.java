package io.rankfeed.flink;

import java.util.Arrays;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

/**
 * Real-time features per hotel, and per hotel × destination: exponentially decayed counts of
 * impressions, examined impressions, clicks, books and quick-backs, mean dwell, and the
 * position-debiased click and booking rates.
 *
 * <p>Called as {@code HotelFeatureAggregator(input => TABLE exposures PARTITION BY hotel_id,
 * on_time => DESCRIPTOR(exposure_time))} on one row per hotel shown. Debiasing divides by
 * examination-weighted impressions, Σ θ_k (the position-based model), with θ from the
 * submission's propensity table when it has one (see {@link Examination}), else θ_k = (1/k)^η. Updates are emitted at most once per
 * {@code emit-interval} of event time per hotel, keyed for the compacted hotel-features topic.
 */
@DataTypeHint("ROW<feature_key STRING>") // placeholder for extraction; getTypeInference sets the real type
public class HotelFeatureAggregator extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final String PREFIX = "rankfeed.features.";
    private static final String EMIT_TIMER = "emit";

    private double halfLifeMs;
    private Examination examination;
    private long emitIntervalMs;

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return Ptf.withOutput(super.getTypeInference(typeFactory), DataTypes.ROW(
                        DataTypes.FIELD("feature_key", DataTypes.STRING()),
                        DataTypes.FIELD("features", Contract.dataType(Contract.HOTEL_FEATURES).nullable())));
    }

    @Override
    public void open(FunctionContext context) {
        halfLifeMs = Double.parseDouble(context.getJobParameter(PREFIX + "half-life-ms", "604800000"));
        examination = Examination.fromJobParameters(
                context, Double.parseDouble(context.getJobParameter(PREFIX + "position-bias-eta", "1.0")));
        emitIntervalMs = Long.parseLong(context.getJobParameter(PREFIX + "emit-interval-ms", "5000"));
    }

    /** Decayed counters per slot; slot 0 is the hotel overall, the others one destination each. */
    public static class Counters {
        public String hotelId;
        public long emitAt;
        public String[] destinations = new String[0];
        public long[] updated = new long[0];
        public boolean[] dirty = new boolean[0];
        public double[] impressions = new double[0];
        public double[] examined = new double[0];
        public double[] weightedImpressions = new double[0];
        public double[] clicks = new double[0];
        public double[] books = new double[0];
        public double[] quickBacks = new double[0];
        public double[] dwellSum = new double[0];
        public double[] dwellCount = new double[0];
    }

    public void eval(
            Context ctx,
            @StateHint(ttl = "30 d") Counters state,
            @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long at = time.time();
        String destination = input.getFieldAs("destination");
        state.hotelId = input.getFieldAs("hotel_id");
        update(state, slot(state, null), at, input);
        if (destination != null) {
            update(state, slot(state, destination), at, input);
        }
        if (state.emitAt == 0) {
            state.emitAt = at + emitIntervalMs;
            time.registerOnTime(EMIT_TIMER, state.emitAt);
        }
    }

    public void onTimer(Counters state) {
        for (int i = 0; i < state.destinations.length; i++) {
            if (!state.dirty[i]) {
                continue;
            }
            state.dirty[i] = false;
            String destination = state.destinations[i];
            // The compaction key: one latest record per hotel, and per hotel × destination.
            String key = destination == null ? state.hotelId : state.hotelId + "|" + destination;
            collect(Rows.named("feature_key", key, "features", features(state, i)));
        }
        state.emitAt = 0;
    }

    private Row features(Counters state, int i) {
        double weighted = state.weightedImpressions[i];
        return Rows.named(
                "hotel_id", state.hotelId,
                "destination", state.destinations[i],
                "updated_at", AvroRows.timestamp(state.updated[i]),
                "impressions", state.impressions[i],
                "examined_impressions", state.examined[i],
                "clicks", state.clicks[i],
                "books", state.books[i],
                "quick_backs", state.quickBacks[i],
                "mean_dwell_seconds", state.dwellCount[i] > 0 ? state.dwellSum[i] / state.dwellCount[i] : null,
                "debiased_ctr", weighted > 0 ? (state.clicks[i] + state.quickBacks[i]) / weighted : null,
                "debiased_book_rate", weighted > 0 ? state.books[i] / weighted : null);
    }

    private void update(Counters state, int i, long at, Row input) {
        double decay = state.updated[i] == 0 ? 1.0 : Math.pow(0.5, Math.max(0, at - state.updated[i]) / halfLifeMs);
        state.impressions[i] = state.impressions[i] * decay + 1;
        state.examined[i] *= decay;
        state.weightedImpressions[i] *= decay;
        state.clicks[i] *= decay;
        state.books[i] *= decay;
        state.quickBacks[i] *= decay;
        state.dwellSum[i] *= decay;
        state.dwellCount[i] *= decay;
        int position = input.<Integer>getFieldAs("position");
        state.weightedImpressions[i] += examination.theta(position);
        if (Boolean.TRUE.equals(input.getFieldAs("examined"))) {
            state.examined[i] += 1;
        }
        String outcome = input.getFieldAs("outcome");
        if ("click".equals(outcome)) {
            state.clicks[i] += 1;
        } else if ("book".equals(outcome)) {
            state.clicks[i] += 1;
            state.books[i] += 1;
        } else if ("quick_back".equals(outcome)) {
            state.quickBacks[i] += 1;
        }
        Double dwell = input.getFieldAs("dwell_seconds");
        if (dwell != null) {
            state.dwellSum[i] += dwell;
            state.dwellCount[i] += 1;
        }
        state.updated[i] = Math.max(state.updated[i], at);
        state.dirty[i] = true;
    }

    private static int slot(Counters state, String destination) {
        for (int i = 0; i < state.destinations.length; i++) {
            if (destination == null ? state.destinations[i] == null : destination.equals(state.destinations[i])) {
                return i;
            }
        }
        int i = state.destinations.length;
        state.destinations = Arrays.copyOf(state.destinations, i + 1);
        state.destinations[i] = destination;
        state.updated = Arrays.copyOf(state.updated, i + 1);
        state.dirty = Arrays.copyOf(state.dirty, i + 1);
        state.impressions = Arrays.copyOf(state.impressions, i + 1);
        state.examined = Arrays.copyOf(state.examined, i + 1);
        state.weightedImpressions = Arrays.copyOf(state.weightedImpressions, i + 1);
        state.clicks = Arrays.copyOf(state.clicks, i + 1);
        state.books = Arrays.copyOf(state.books, i + 1);
        state.quickBacks = Arrays.copyOf(state.quickBacks, i + 1);
        state.dwellSum = Arrays.copyOf(state.dwellSum, i + 1);
        state.dwellCount = Arrays.copyOf(state.dwellCount, i + 1);
        return i;
    }
}
