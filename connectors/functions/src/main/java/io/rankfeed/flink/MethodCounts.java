package io.rankfeed.flink;

import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * One θ method's evidence: clicks and impressions per position, decayed to {@code updated}; for EM
 * also per (destination|hotel) pair. New counts wait in their tumbling window ({@link #pending})
 * until the watermark completes it, then are folded in, so an estimate as of a window holds
 * exactly the windows up to it, each impression weighted by 0.5^(age / half-life).
 */
final class MethodCounts {
    /** Decayed counts of one pair (or one pending window of a pair) per position, and its γ. */
    static final class Pair {
        long updated;
        double[] impressions;
        double[] clicks;
        /** NaN until EM has run. */
        double gamma = Double.NaN;

        Pair(int positions) {
            impressions = new double[positions];
            clicks = new double[positions];
        }
    }

    /** Undecayed counts of one window that the watermark has not completed yet. */
    static final class Window {
        final Pair totals;
        final Map<String, Pair> pairs = new HashMap<>();

        Window(int positions) {
            totals = new Pair(positions);
        }
    }

    final int positions;
    long updated;
    double[] impressions;
    double[] clicks;
    /** EM's θ (θ_1 = 1), the warm start of the next publication; empty until the first. */
    double[] theta = new double[0];
    final Map<String, Pair> pairs = new HashMap<>();
    final TreeMap<Long, Window> pending = new TreeMap<>();
    /** Window time of the latest window folded in, and of the latest publication point. */
    long foldedAt;
    long pointAt;
    /** Publication points since the last publication (more than one: coalesced). */
    int points;
    /** Processing time of the last publication; Long.MIN_VALUE: none yet. */
    long publishedAtMs = Long.MIN_VALUE;

    MethodCounts(int positions) {
        this.positions = positions;
        impressions = new double[positions];
        clicks = new double[positions];
    }

    /** Counts one impression at 1-based {@code position} of window {@code window}; {@code pair} null: no pair. */
    void count(long window, String pair, int position, boolean clicked) {
        Window counts = pending.computeIfAbsent(window, w -> new Window(positions));
        add(counts.totals, position, clicked);
        if (pair != null) {
            add(counts.pairs.computeIfAbsent(pair, p -> new Pair(positions)), position, clicked);
        }
    }

    private static void add(Pair counts, int position, boolean clicked) {
        counts.impressions[position - 1] += 1;
        if (clicked) {
            counts.clicks[position - 1] += 1;
        }
    }

    /** Folds every pending window up to {@code upTo} into the decayed counts. */
    void fold(long upTo, double halfLifeMs) {
        Iterator<Map.Entry<Long, Window>> completed = pending.headMap(upTo, true).entrySet().iterator();
        while (completed.hasNext()) {
            Map.Entry<Long, Window> entry = completed.next();
            long window = entry.getKey();
            updated = merge(impressions, clicks, updated, entry.getValue().totals, window, halfLifeMs);
            for (Map.Entry<String, Pair> counts : entry.getValue().pairs.entrySet()) {
                Pair pair = pairs.get(counts.getKey());
                if (pair == null) {
                    pair = new Pair(positions);
                    pairs.put(counts.getKey(), pair);
                }
                pair.updated = merge(pair.impressions, pair.clicks, pair.updated, counts.getValue(), window, halfLifeMs);
            }
            foldedAt = Math.max(foldedAt, window);
            completed.remove();
        }
    }

    /** Adds {@code counts} of window time {@code at} to sums decayed to {@code updated}; returns the new updated. */
    private static long merge(
            double[] impressions, double[] clicks, long updated, Pair counts, long at, double halfLifeMs) {
        long to = Math.max(updated, at);
        Propensities.decay(impressions, clicks, updated, to, halfLifeMs);
        double weight = Math.pow(0.5, (to - at) / halfLifeMs);
        for (int k = 0; k < impressions.length; k++) {
            impressions[k] += weight * counts.impressions[k];
            clicks[k] += weight * counts.clicks[k];
        }
        return to;
    }

    /** Whether a window up to {@code watermark} still waits (its timer fires next, in the same step). */
    boolean waiting(long watermark) {
        return !pending.isEmpty() && pending.firstKey() <= watermark;
    }

    /** Marks a publication point when windows were folded since the last one. */
    void point() {
        if (foldedAt > pointAt) {
            pointAt = foldedAt;
            points++;
        }
    }

    /** Decays the totals to {@code at}. */
    void decayTo(long at, double halfLifeMs) {
        Propensities.decay(impressions, clicks, updated, at, halfLifeMs);
        updated = Math.max(updated, at);
    }
}
