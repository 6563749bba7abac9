package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** List normalization: population z-score (0 when all equal) and rank percentile (ties at their mean rank). */
class NormalizerTest {
    private static final double EPS = 1e-12;

    @Test
    void equalValuesHaveZeroZscoreAndTheMeanRank() {
        Normalizer normalizer = new Normalizer(List.of(120.0, 120.0, 120.0, 120.0));
        assertEquals(0.0, normalizer.zscore(120.0));
        assertEquals(0.5, normalizer.rankPercentile(120.0));
    }

    @Test
    void zscoreUsesThePopulationStandardDeviation() {
        Normalizer normalizer = new Normalizer(List.of(1.0, 2.0, 3.0));
        double std = Math.sqrt(2.0 / 3.0);
        assertEquals(-1 / std, normalizer.zscore(1.0), EPS);
        assertEquals(0.0, normalizer.zscore(2.0), EPS);
        assertEquals(1 / std, normalizer.zscore(3.0), EPS);
    }

    @Test
    void rankPercentileRunsFromLowestToHighestWithTiesAtTheirMeanRank() {
        Normalizer normalizer = new Normalizer(List.of(300.0, 100.0, 200.0, 200.0));
        assertEquals(0.0, normalizer.rankPercentile(100.0), EPS);
        assertEquals(0.5, normalizer.rankPercentile(200.0), EPS);
        assertEquals(1.0, normalizer.rankPercentile(300.0), EPS);

        Normalizer lowTie = new Normalizer(List.of(1.0, 1.0, 2.0));
        assertEquals(0.25, lowTie.rankPercentile(1.0), EPS);
        assertEquals(1.0, lowTie.rankPercentile(2.0), EPS);
    }

    @Test
    void nullsStayNullAndDoNotCount() {
        Normalizer normalizer = new Normalizer(Arrays.asList(null, 1.0, 3.0, null));
        assertNull(normalizer.zscore(null));
        assertNull(normalizer.rankPercentile(null));
        assertEquals(-1.0, normalizer.zscore(1.0), EPS);
        assertEquals(1.0, normalizer.zscore(3.0), EPS);
        assertEquals(0.0, normalizer.rankPercentile(1.0), EPS);
        assertEquals(1.0, normalizer.rankPercentile(3.0), EPS);
    }

    @Test
    void aListOfOneKnownValue() {
        Normalizer normalizer = new Normalizer(Arrays.asList(4.5, null));
        assertEquals(0.0, normalizer.zscore(4.5));
        assertEquals(0.5, normalizer.rankPercentile(4.5));
    }

    @Test
    void allNull() {
        Normalizer normalizer = new Normalizer(Arrays.asList(null, null));
        assertNull(normalizer.zscore(null));
        assertNull(normalizer.rankPercentile(null));
    }
}
