package io.rankfeed.flink;

import java.util.Arrays;

/**
 * One hotel's decayed counters: slot 0 is the hotel overall (destination null), the others one
 * destination each. Impressions, examined impressions, examination-weighted impressions Σ θ_k,
 * clicks, books, quick-backs and dwell decay exponentially with a half-life in event time; each
 * slot's sums are kept relative to its {@code updated} time and decayed forward when a later
 * exposure arrives. A Flink POJO kept on the heap and mutated in place.
 */
public class HotelCounters {
    public String hotelId;
    /** Processing time of the pending emission timer; 0: none. */
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

    public HotelCounters() {}

    /** Counts one exposure in the hotel's overall slot and in its destination's. */
    void add(HotelExposure exposure, double theta, double halfLifeMs) {
        hotelId = exposure.hotelId;
        update(slot(null), exposure, theta, halfLifeMs);
        if (exposure.destination != null) {
            update(slot(exposure.destination), exposure, theta, halfLifeMs);
        }
    }

    /** The compaction key of slot {@code i}: one latest record per hotel, and per hotel × destination. */
    String key(int i) {
        return destinations[i] == null ? hotelId : hotelId + "|" + destinations[i];
    }

    private void update(int i, HotelExposure exposure, double theta, double halfLifeMs) {
        long at = exposure.at;
        double decay = updated[i] == 0 ? 1.0 : Math.pow(0.5, Math.max(0, at - updated[i]) / halfLifeMs);
        impressions[i] = impressions[i] * decay + 1;
        examined[i] *= decay;
        weightedImpressions[i] *= decay;
        clicks[i] *= decay;
        books[i] *= decay;
        quickBacks[i] *= decay;
        dwellSum[i] *= decay;
        dwellCount[i] *= decay;
        weightedImpressions[i] += theta;
        if (exposure.examined) {
            examined[i] += 1;
        }
        String outcome = exposure.outcome;
        if ("click".equals(outcome)) {
            clicks[i] += 1;
        } else if ("book".equals(outcome)) {
            clicks[i] += 1;
            books[i] += 1;
        } else if ("quick_back".equals(outcome)) {
            quickBacks[i] += 1;
        }
        if (!Double.isNaN(exposure.dwellSeconds)) {
            dwellSum[i] += exposure.dwellSeconds;
            dwellCount[i] += 1;
        }
        updated[i] = Math.max(updated[i], at);
        dirty[i] = true;
    }

    private int slot(String destination) {
        for (int i = 0; i < destinations.length; i++) {
            if (destination == null ? destinations[i] == null : destination.equals(destinations[i])) {
                return i;
            }
        }
        int i = destinations.length;
        destinations = Arrays.copyOf(destinations, i + 1);
        destinations[i] = destination;
        updated = Arrays.copyOf(updated, i + 1);
        dirty = Arrays.copyOf(dirty, i + 1);
        impressions = Arrays.copyOf(impressions, i + 1);
        examined = Arrays.copyOf(examined, i + 1);
        weightedImpressions = Arrays.copyOf(weightedImpressions, i + 1);
        clicks = Arrays.copyOf(clicks, i + 1);
        books = Arrays.copyOf(books, i + 1);
        quickBacks = Arrays.copyOf(quickBacks, i + 1);
        dwellSum = Arrays.copyOf(dwellSum, i + 1);
        dwellCount = Arrays.copyOf(dwellCount, i + 1);
        return i;
    }
}
