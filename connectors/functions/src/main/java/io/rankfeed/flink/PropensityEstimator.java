package io.rankfeed.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

/**
 * Position-bias propensities θ_k under the position-based model (P(click) = θ_k·γ), estimated
 * continuously and published as versioned {@code PositionPropensities} records.
 *
 * <p>Called as {@code PropensityEstimator(input => TABLE counts PARTITION BY method,
 * on_time => DESCRIPTOR(window_time))} on pre-aggregated rows: one per tumbling event-time window
 * and (method, position) for {@code randomized}, or (method, destination, hotel, position) for
 * {@code em}, with the window's impressions and clicks. The SQL window does the per-impression work
 * in the JVM's aggregation operators; this function sees a few rows per window. Both methods run
 * side by side as two keys.
 *
 * <ul>
 *   <li><b>randomized</b>: decayed impressions and clicks per position of shuffled lists;
 *       θ_k/θ_1 is the ratio of click rates with a Beta prior towards θ⁰_k = (1/k)^η, exactly as
 *       {@code rankfeed.propensity.theta_from_counts} (the Python tests compare the two on every
 *       record). The band is the delta method on log(r_k/r_1), treating decayed counts as counts.
 *   <li><b>em</b>: decayed counts per (destination|hotel) and position in a {@link MapView}, one
 *       entry per pair; at each publication a few EM iterations (Wang et al. 2018, the update of
 *       {@code rankfeed.propensity.em_position_bias}), warm-started from the previous θ and each
 *       pair's γ. No band: EM gives none cheaply, so {@code lower}/{@code upper} are null.
 * </ul>
 *
 * <p>Evidence decays with a half-life in event time. A record is published for each window that
 * had data, on an event-time timer at the window's time: the window operator emits all its rows
 * before it forwards the watermark, so the timer fires once every row of the window is counted.
 * The timer is registered in {@code eval} (timers registered in {@code onTimer} do not fire in
 * Flink 2.2's PTF runtime), so a key with no new data publishes nothing new. It is one named
 * timer moved forward by each later window: when one watermark step completes several windows
 * (catching up, a replay), they share one publication, as of the last of them.
 *
 * <p>State: the EM pairs use a {@code MapView} (per-entry access; RAW and value-state maps would
 * (de)serialize every pair on every row). Pairs whose decayed impressions fall below
 * {@value #PRUNE_BELOW} are removed at publication, and entries expire after 30 days untouched.
 */
@DataTypeHint("ROW<propensities STRING>") // placeholder for extraction; getTypeInference sets the real type
public class PropensityEstimator extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;
    private static final String PREFIX = "rankfeed.propensities.";
    private static final String EMIT_TIMER = "emit";
    static final String RANDOMIZED = "randomized";
    static final String EM = "em";
    /** As rankfeed.propensity._EPSILON. */
    static final double EPSILON = 1e-9;
    private static final double Z95 = 1.959963984540054;
    private static final double PRUNE_BELOW = 0.01;
    private static final DateTimeFormatter VERSION_TIME =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    private double halfLifeMs;
    private double priorStrength;
    private double priorEta;
    private int maxPosition;
    private int emIterations;
    private double maxWeight;

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return Ptf.withOutput(super.getTypeInference(typeFactory), DataTypes.ROW(DataTypes.FIELD(
                        "propensities", Contract.dataType(Contract.POSITION_PROPENSITIES).nullable())));
    }

    @Override
    public void open(FunctionContext context) {
        halfLifeMs = Double.parseDouble(context.getJobParameter(PREFIX + "half-life-ms", "86400000"));
        priorStrength = Double.parseDouble(context.getJobParameter(PREFIX + "prior-strength", "200.0"));
        priorEta = Double.parseDouble(context.getJobParameter(PREFIX + "prior-eta", "1.0"));
        maxPosition = Integer.parseInt(context.getJobParameter(PREFIX + "max-position", "10"));
        emIterations = Integer.parseInt(context.getJobParameter(PREFIX + "em-iterations", "20"));
        maxWeight = Double.parseDouble(context.getJobParameter(PREFIX + "max-weight", "10.0"));
    }

    /** Per-method totals: decayed impressions and clicks per position, and EM's current θ. */
    public static class Estimate {
        public String method;
        /** Event time the totals are decayed to. */
        public long updated;
        /** Time of the latest emit timer registered. */
        public long emitAt;
        public double[] impressions = new double[0];
        public double[] clicks = new double[0];
        /** EM's θ (θ_1 = 1), the warm start of the next publication; empty until the first. */
        public double[] theta = new double[0];
    }

    /** Decayed counts of one (destination, hotel) pair per position, and its γ (NaN until EM has run). */
    public static class Pair {
        public long updated;
        public double[] impressions = new double[0];
        public double[] clicks = new double[0];
        public double gamma = Double.NaN;
    }

    public void eval(
            Context ctx,
            @StateHint(ttl = "30 d") Estimate state,
            @StateHint(ttl = "30 d") MapView<String, Pair> pairs,
            @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input)
            throws Exception {
        long at = ctx.timeContext(Long.class).time();
        int position = input.<Integer>getFieldAs("position");
        if (position < 1 || position > maxPosition) {
            return;
        }
        double impressions = input.<Double>getFieldAs("impressions");
        double clicks = input.<Double>getFieldAs("clicks");
        state.method = input.getFieldAs("method");
        if (state.impressions.length != maxPosition) {
            state.impressions = new double[maxPosition];
            state.clicks = new double[maxPosition];
        }
        decay(state.impressions, state.clicks, state.updated, at);
        state.updated = Math.max(state.updated, at);
        state.impressions[position - 1] += impressions;
        state.clicks[position - 1] += clicks;
        if (EM.equals(state.method)) {
            String destination = input.getFieldAs("destination");
            String key = (destination == null ? "" : destination) + "|" + input.getFieldAs("hotel_id");
            Pair pair = pairs.get(key);
            if (pair == null || pair.impressions.length != maxPosition) {
                pair = new Pair();
                pair.impressions = new double[maxPosition];
                pair.clicks = new double[maxPosition];
                pair.updated = at;
            }
            decay(pair.impressions, pair.clicks, pair.updated, at);
            pair.updated = Math.max(pair.updated, at);
            pair.impressions[position - 1] += impressions;
            pair.clicks[position - 1] += clicks;
            pairs.put(key, pair);
        }
        // One named timer, only ever moved forward: it fires once the watermark has passed every
        // window seen so far. Rows of an earlier window arriving late from another parallel window
        // task (at <= emitAt) are folded into the next publication instead of pulling it back.
        if (at > state.emitAt) {
            state.emitAt = at;
            ctx.timeContext(Long.class).registerOnTime(EMIT_TIMER, at);
        }
    }

    public void onTimer(OnTimerContext ctx, Estimate state, MapView<String, Pair> pairs) throws Exception {
        long now = ctx.timeContext(Long.class).time();
        if (state.method == null || state.impressions.length == 0) {
            return;
        }
        decay(state.impressions, state.clicks, state.updated, now);
        state.updated = Math.max(state.updated, now);
        double[] theta;
        double[][] band = null;
        if (RANDOMIZED.equals(state.method)) {
            theta = thetaFromCounts(state.impressions, state.clicks, priorStrength, priorEta);
            band = band(state.impressions, state.clicks, theta);
        } else {
            theta = em(state, pairs, now);
            state.theta = theta;
        }
        for (double value : theta) {
            if (!(value > 0) || Double.isInfinite(value)) {
                return; // no click at position 1 and no prior: θ_k/θ_1 is undefined, publish nothing
            }
        }
        collect(Rows.named("propensities", record(state.method, now, theta, band, state)));
    }

    private Row record(String method, long at, double[] theta, double[][] band, Estimate state) {
        return Rows.named(
                "method", method,
                "version", version(method, at, theta, maxWeight),
                "estimated_at", AvroRows.timestamp(at),
                "theta", boxed(theta),
                "lower", band == null ? null : boxed(band[0]),
                "upper", band == null ? null : boxed(band[1]),
                "impressions", boxed(state.impressions),
                "clicks", boxed(state.clicks),
                "max_weight", maxWeight);
    }

    // ------------------------------------------------------------------ randomized

    /** θ⁰_k = (1/k)^η, k = 1..n: the prior's shape (rankfeed.propensity.default_theta). */
    static double[] defaultTheta(int n, double eta) {
        double[] shape = new double[n];
        for (int k = 0; k < n; k++) {
            shape[k] = Math.pow(1.0 / (k + 1), eta);
        }
        return shape;
    }

    /** θ_k/θ_1 from per-position counts of randomized lists: rankfeed.propensity.theta_from_counts, line by line. */
    static double[] thetaFromCounts(double[] impressions, double[] clicks, double priorStrength, double priorEta) {
        int n = impressions.length;
        double[] shape = defaultTheta(n, priorEta);
        double totalClicks = 0;
        double weighted = 0;
        for (int k = 0; k < n; k++) {
            totalClicks += clicks[k];
            weighted += impressions[k] * shape[k];
        }
        if (totalClicks <= 0) {
            return shape;
        }
        double topRate = Math.min(totalClicks / Math.max(weighted, EPSILON), 1.0 - EPSILON);
        double[] rate = rates(impressions, clicks, shape, topRate, priorStrength);
        double[] theta = new double[n];
        for (int k = 0; k < n; k++) {
            theta[k] = rate[k] / rate[0];
        }
        return theta;
    }

    private static double[] rates(double[] impressions, double[] clicks, double[] shape, double topRate, double s) {
        double[] rate = new double[impressions.length];
        for (int k = 0; k < rate.length; k++) {
            double priorMean = Math.min(Math.max(shape[k] * topRate, EPSILON), 1.0 - EPSILON);
            rate[k] = (clicks[k] + s * priorMean) / Math.max(impressions[k] + s, EPSILON);
        }
        return rate;
    }

    /**
     * Approximate 95% band: Var(log r_k) ≈ (1 - r_k) / (r_k (n_k + s)) for the posterior-mean rate r_k
     * with n_k + s (pseudo-)impressions, and Var(log θ_k) = Var(log r_k) + Var(log r_1) (positions
     * counted apart). θ_1 = 1 by definition, so its band is [1, 1].
     */
    private double[][] band(double[] impressions, double[] clicks, double[] theta) {
        int n = theta.length;
        double[][] band = new double[2][n];
        double totalClicks = 0;
        for (double c : clicks) {
            totalClicks += c;
        }
        if (totalClicks <= 0) {
            return new double[][] {theta.clone(), theta.clone()};
        }
        double[] shape = defaultTheta(n, priorEta);
        double weighted = 0;
        for (int k = 0; k < n; k++) {
            weighted += impressions[k] * shape[k];
        }
        double topRate = Math.min(totalClicks / Math.max(weighted, EPSILON), 1.0 - EPSILON);
        double[] rate = rates(impressions, clicks, shape, topRate, priorStrength);
        double top = logVariance(rate[0], impressions[0] + priorStrength);
        for (int k = 0; k < n; k++) {
            double spread = k == 0 ? 0.0 : Z95 * Math.sqrt(logVariance(rate[k], impressions[k] + priorStrength) + top);
            band[0][k] = theta[k] * Math.exp(-spread);
            band[1][k] = theta[k] * Math.exp(spread);
        }
        return band;
    }

    private static double logVariance(double rate, double count) {
        return (1.0 - rate) / Math.max(rate * count, EPSILON);
    }

    // ------------------------------------------------------------------ EM

    /**
     * Warm-started EM over every pair: the update of rankfeed.propensity.em_position_bias on
     * decayed (pair, position) counts. Decays and prunes the pairs, stores each γ back.
     */
    private double[] em(Estimate state, MapView<String, Pair> pairs, long now) throws Exception {
        int n = maxPosition;
        double[] theta = state.theta.length == n ? state.theta.clone() : defaultTheta(n, priorEta);
        List<String> keys = new ArrayList<>();
        List<Pair> loaded = new ArrayList<>();
        Iterator<Map.Entry<String, Pair>> entries = pairs.entries().iterator();
        List<String> pruned = new ArrayList<>();
        while (entries.hasNext()) {
            Map.Entry<String, Pair> entry = entries.next();
            Pair pair = entry.getValue();
            decay(pair.impressions, pair.clicks, pair.updated, now);
            pair.updated = Math.max(pair.updated, now);
            double total = 0;
            for (double value : pair.impressions) {
                total += value;
            }
            if (total < PRUNE_BELOW) {
                pruned.add(entry.getKey());
                continue;
            }
            if (Double.isNaN(pair.gamma)) {
                // Start γ at the pair's click rate corrected by θ, inside (0, 1), as the Python EM does.
                double corrected = 0;
                double clicked = 0;
                for (int k = 0; k < n; k++) {
                    corrected += pair.impressions[k] * theta[k];
                    clicked += pair.clicks[k];
                }
                pair.gamma = Math.min(Math.max(clicked / Math.max(corrected, EPSILON), 0.01), 0.99);
            }
            keys.add(entry.getKey());
            loaded.add(pair);
        }
        for (String key : pruned) {
            pairs.remove(key);
        }
        if (loaded.isEmpty()) {
            return theta;
        }
        double[] positionImpressions = new double[n];
        for (Pair pair : loaded) {
            for (int k = 0; k < n; k++) {
                positionImpressions[k] += pair.impressions[k];
            }
        }
        double[] gamma = new double[loaded.size()];
        for (int p = 0; p < gamma.length; p++) {
            gamma[p] = loaded.get(p).gamma;
        }
        for (int iteration = 0; iteration < emIterations; iteration++) {
            double[] examined = new double[n];
            double[] nextGamma = new double[gamma.length];
            for (int p = 0; p < gamma.length; p++) {
                Pair pair = loaded.get(p);
                double relevant = 0;
                double total = 0;
                for (int k = 0; k < n; k++) {
                    double shown = pair.impressions[k];
                    if (shown <= 0) {
                        continue;
                    }
                    double clicked = pair.clicks[k];
                    double misses = shown - clicked;
                    double missProbability = Math.max(1.0 - theta[k] * gamma[p], EPSILON);
                    examined[k] += clicked + misses * theta[k] * (1.0 - gamma[p]) / missProbability;
                    relevant += clicked + misses * (1.0 - theta[k]) * gamma[p] / missProbability;
                    total += shown;
                }
                nextGamma[p] = relevant / Math.max(total, EPSILON);
            }
            for (int k = 0; k < n; k++) {
                // A position never shown keeps its value instead of collapsing to 0.
                if (positionImpressions[k] > 0) {
                    theta[k] = examined[k] / Math.max(positionImpressions[k], EPSILON);
                }
            }
            gamma = nextGamma;
        }
        double scale = theta[0];
        if (scale > 0) {
            for (int k = 0; k < n; k++) {
                theta[k] /= scale;
            }
            for (int p = 0; p < gamma.length; p++) {
                gamma[p] *= scale;
            }
        }
        for (int p = 0; p < gamma.length; p++) {
            Pair pair = loaded.get(p);
            pair.gamma = gamma[p];
            pairs.put(keys.get(p), pair);
        }
        return theta;
    }

    // ------------------------------------------------------------------ helpers

    private void decay(double[] impressions, double[] clicks, long from, long to) {
        if (from == 0 || to <= from) {
            return;
        }
        double factor = Math.pow(0.5, (to - from) / halfLifeMs);
        for (int k = 0; k < impressions.length; k++) {
            impressions[k] *= factor;
            clicks[k] *= factor;
        }
    }

    /**
     * {@code <method>-<yyyyMMddTHHmmssZ>-<hash>}, the offline PropensityTable's style. The hash is the
     * first 12 hex digits of SHA-256 over the UTF-8 method, a 0 byte, then θ and max_weight as
     * big-endian IEEE doubles (rankfeed.propensity.stream_version computes the same).
     */
    static String version(String method, long at, double[] theta, double maxWeight) {
        byte[] name = method.getBytes(StandardCharsets.UTF_8);
        ByteBuffer content = ByteBuffer.allocate(name.length + 1 + 8 * (theta.length + 1));
        content.put(name).put((byte) 0);
        for (double value : theta) {
            content.putDouble(value);
        }
        content.putDouble(maxWeight);
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(content.array());
            StringBuilder hex = new StringBuilder();
            for (int i = 0; i < 6; i++) {
                hex.append(String.format("%02x", digest[i]));
            }
            return method + "-" + VERSION_TIME.format(Instant.ofEpochMilli(at)) + "-" + hex;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static Double[] boxed(double[] values) {
        Double[] boxed = new Double[values.length];
        for (int i = 0; i < values.length; i++) {
            boxed[i] = values[i];
        }
        return boxed;
    }
}
