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

/**
 * Position-bias propensities θ_k under the position-based model (P(click) = θ_k·γ), from decayed
 * counts: the arithmetic of the features job's θ, apart from when it runs ({@link PropensityFunction}).
 *
 * <ul>
 *   <li><b>randomized</b>: θ_k/θ_1 is the ratio of click rates per position of shuffled lists with
 *       a Beta prior towards θ⁰_k = (1/k)^η, exactly as {@code rankfeed.propensity.theta_from_counts}
 *       (the Python tests compare the two on every record). The band is the delta method on
 *       log(r_k/r_1), treating decayed counts as counts.
 *   <li><b>em</b>: a few EM iterations over every (destination|hotel) pair (Wang et al. 2018, the
 *       update of {@code rankfeed.propensity.em_position_bias}), warm-started from the previous θ and
 *       each pair's γ. No band: EM gives none cheaply.
 * </ul>
 */
final class Propensities {
    /** As rankfeed.propensity._EPSILON. */
    static final double EPSILON = 1e-9;
    private static final double Z95 = 1.959963984540054;
    /** Pairs whose decayed impressions fall below this are dropped at publication. */
    static final double PRUNE_BELOW = 0.01;
    private static final DateTimeFormatter VERSION_TIME =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    private Propensities() {}

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
    static double[][] band(
            double[] impressions, double[] clicks, double[] theta, double priorStrength, double priorEta) {
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
     * Warm-started EM over every pair of {@code counts}: the update of
     * rankfeed.propensity.em_position_bias on decayed (pair, position) counts. Decays the pairs to
     * {@code now}, prunes the faded ones, stores each γ back and returns θ (θ_1 = 1).
     */
    static double[] em(MethodCounts counts, long now, int iterations, double priorEta, double halfLifeMs) {
        int n = counts.positions;
        double[] theta = counts.theta.length == n ? counts.theta.clone() : defaultTheta(n, priorEta);
        List<MethodCounts.Pair> loaded = new ArrayList<>();
        Iterator<Map.Entry<String, MethodCounts.Pair>> entries = counts.pairs.entrySet().iterator();
        while (entries.hasNext()) {
            MethodCounts.Pair pair = entries.next().getValue();
            decay(pair.impressions, pair.clicks, pair.updated, now, halfLifeMs);
            pair.updated = Math.max(pair.updated, now);
            double total = 0;
            for (double value : pair.impressions) {
                total += value;
            }
            if (total < PRUNE_BELOW) {
                entries.remove();
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
            loaded.add(pair);
        }
        if (loaded.isEmpty()) {
            return theta;
        }
        double[] positionImpressions = new double[n];
        for (MethodCounts.Pair pair : loaded) {
            for (int k = 0; k < n; k++) {
                positionImpressions[k] += pair.impressions[k];
            }
        }
        double[] gamma = new double[loaded.size()];
        for (int p = 0; p < gamma.length; p++) {
            gamma[p] = loaded.get(p).gamma;
        }
        for (int iteration = 0; iteration < iterations; iteration++) {
            double[] examined = new double[n];
            double[] nextGamma = new double[gamma.length];
            for (int p = 0; p < gamma.length; p++) {
                MethodCounts.Pair pair = loaded.get(p);
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
            loaded.get(p).gamma = gamma[p];
        }
        return theta;
    }

    // ------------------------------------------------------------------ helpers

    /** Decays counts from event time {@code from} to {@code to} (nothing when from is 0 or not earlier). */
    static void decay(double[] impressions, double[] clicks, long from, long to, double halfLifeMs) {
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
}
