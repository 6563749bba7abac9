package io.rankfeed.flink;

import static io.rankfeed.flink.Exposures.HOUR;
import static io.rankfeed.flink.Exposures.INTERVAL;
import static io.rankfeed.flink.Exposures.WINDOW;
import static io.rankfeed.flink.Exposures.list;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** θ in the keyed operator harness: window counts, publication points, coalescing, exact decay. */
@SuppressWarnings("unchecked")
class PropensityFunctionTest {
    private static final List<String> HOTELS = List.of("H1", "H2", "H3");
    private static final double HALF_LIFE = 24 * HOUR;

    private static KeyedOneInputStreamOperatorTestHarness<String, ExposureList, Output> harness(OperatorSubtaskState from)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, ExposureList, Output> harness =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new KeyedProcessOperator<>(new PropensityFunction(Exposures.defaults())),
                        list -> PropensityFunction.KEY,
                        Types.STRING);
        if (from != null) {
            harness.initializeState(from);
        }
        harness.open();
        return harness;
    }

    /** The window_time (end - 1 ms) of the tumbling window holding {@code at}. */
    private static long windowOf(long at) {
        return (at / WINDOW + 1) * WINDOW - 1;
    }

    private static List<Map<String, Object>> published(
            KeyedOneInputStreamOperatorTestHarness<String, ExposureList, Output> harness, String method) {
        List<Map<String, Object>> found = new ArrayList<>();
        for (Map<String, Object> record : Records.of(harness.extractOutputValues(), Output.Sink.PROPENSITIES)) {
            if (method.equals(record.get("method"))) {
                found.add(record);
            }
        }
        return found;
    }

    private static double[] doubles(Object values) {
        return ((List<?>) values).stream().mapToDouble(v -> (Double) v).toArray();
    }

    @Test
    void aWindowIsPublishedWhenTheWatermarkCompletesIt() throws Exception {
        try (var harness = harness(null)) {
            harness.setProcessingTime(1_000);
            harness.processElement(list(HOUR + 1_000, "Paris", true, HOTELS, "click", null, "click"), HOUR + 1_000);
            harness.processWatermark(windowOf(HOUR) - 1);
            assertEquals(0, published(harness, "em").size(), "the window is not complete yet");
            harness.processWatermark(windowOf(HOUR));
            Map<String, Object> randomized = published(harness, "randomized").get(0);
            assertEquals(windowOf(HOUR), randomized.get("estimated_at"));
            double[] impressions = doubles(randomized.get("impressions"));
            double[] clicks = doubles(randomized.get("clicks"));
            assertEquals(List.of(1.0, 1.0, 1.0), randomized.get("impressions"));
            assertEquals(List.of(1.0, 0.0, 1.0), randomized.get("clicks"));
            double[] theta = Propensities.thetaFromCounts(impressions, clicks, 200.0, 1.0);
            assertEquals(theta[1], doubles(randomized.get("theta"))[1], 1e-12);
            assertEquals(
                    Propensities.version("randomized", windowOf(HOUR), theta, 10.0), randomized.get("version"));
            Map<String, Object> em = published(harness, "em").get(0);
            assertNull(em.get("lower"), "EM has no band");
            assertEquals(1.0, doubles(em.get("theta"))[0], 0.0);
        }
    }

    @Test
    void oneWatermarkStepThatCompletesSeveralWindowsPublishesOnceAsOfTheLast() throws Exception {
        try (var harness = harness(null)) {
            harness.setProcessingTime(1_000);
            harness.processElement(list(HOUR, null, false, HOTELS, "click"), HOUR);
            harness.processElement(list(HOUR + 2 * WINDOW, null, false, HOTELS, "click"), HOUR + 2 * WINDOW);
            harness.processElement(list(HOUR + 9 * WINDOW, null, false, HOTELS, "click"), HOUR + 9 * WINDOW);
            harness.processWatermark(HOUR + 5 * WINDOW);
            List<Map<String, Object>> em = published(harness, "em");
            assertEquals(1, em.size());
            assertEquals(windowOf(HOUR + 2 * WINDOW), em.get(0).get("estimated_at"));
            // Exact decay: the first list's impressions weigh 0.5^(2 windows / half-life), the later window's is not in.
            double expected = 1 + Math.pow(0.5, 2 * WINDOW / HALF_LIFE);
            assertEquals(expected, doubles(em.get(0).get("impressions"))[0], 1e-12);
            assertEquals(0, published(harness, "randomized").size(), "no shuffled list: nothing to publish");
        }
    }

    @Test
    void pointsCloserThanTheIntervalAreCoalescedIntoOneLaterPublication() throws Exception {
        try (var harness = harness(null)) {
            harness.setProcessingTime(1_000);
            for (int w = 0; w < 4; w++) {
                long at = HOUR + w * WINDOW;
                harness.processElement(list(at, "Paris", false, HOTELS, "click"), at);
                harness.processWatermark(windowOf(at));
            }
            assertEquals(1, published(harness, "em").size(), "later points wait for the interval");
            harness.setProcessingTime(1_000 + INTERVAL);
            List<Map<String, Object>> em = published(harness, "em");
            assertEquals(2, em.size());
            assertEquals(windowOf(HOUR + 3 * WINDOW), em.get(1).get("estimated_at"), "as of the last point");
            double total = 0;
            for (double impressions : doubles(em.get(1).get("impressions"))) {
                total += impressions;
            }
            double expected = 0;
            for (int w = 0; w < 4; w++) {
                expected += 3 * Math.pow(0.5, (3 - w) * WINDOW / HALF_LIFE);
            }
            assertEquals(expected, total, 1e-12, "every window counted once, decayed exactly");
        }
    }

    @Test
    void aListWhoseWindowIsBehindTheWatermarkIsLeftOut() throws Exception {
        try (var harness = harness(null)) {
            harness.processWatermark(windowOf(HOUR));
            harness.processElement(list(HOUR, null, true, HOTELS, "click"), HOUR);
            harness.processWatermark(windowOf(HOUR + WINDOW));
            assertTrue(harness.extractOutputValues().isEmpty());
        }
    }

    @Test
    void pendingWindowsAndTheWarmStartSurviveARestore() throws Exception {
        OperatorSubtaskState snapshot;
        try (var harness = harness(null)) {
            harness.processElement(list(HOUR, "Paris", true, HOTELS, "click"), HOUR);
            harness.processWatermark(windowOf(HOUR));
            harness.processElement(list(HOUR + WINDOW, "Paris", true, HOTELS, null, "click"), HOUR + WINDOW);
            snapshot = harness.snapshot(1, 10);
        }
        try (var restored = harness(snapshot)) {
            restored.setProcessingTime(10 * INTERVAL);
            restored.processWatermark(windowOf(HOUR + WINDOW));
            Map<String, Object> randomized = published(restored, "randomized").get(0);
            assertEquals(windowOf(HOUR + WINDOW), randomized.get("estimated_at"));
            assertEquals(1 + Math.pow(0.5, WINDOW / HALF_LIFE), doubles(randomized.get("impressions"))[0], 1e-12);
            assertEquals(1.0, doubles(randomized.get("clicks"))[1], 1e-12, "the pending window was restored");
        }
    }

    @Test
    void stateOfAnotherMaxPositionIsStartedOver() throws Exception {
        OperatorSubtaskState snapshot;
        try (var harness = harness(null)) {
            harness.processElement(list(HOUR, null, true, HOTELS, "click"), HOUR);
            snapshot = harness.snapshot(1, 10);
        }
        Map<String, Object> doc = Exposures.document();
        ((Map<String, Object>) doc.get("propensities")).put("max_position", 2);
        try (var restored = new KeyedOneInputStreamOperatorTestHarness<String, ExposureList, Output>(
                new KeyedProcessOperator<>(new PropensityFunction(Exposures.config(doc))),
                list -> PropensityFunction.KEY,
                Types.STRING)) {
            restored.initializeState(snapshot);
            restored.open();
            restored.processElement(list(HOUR + WINDOW, null, true, HOTELS, "click"), HOUR + WINDOW);
            restored.processWatermark(windowOf(HOUR + WINDOW));
            Map<String, Object> randomized = published(restored, "randomized").get(0);
            assertEquals(List.of(1.0, 1.0), randomized.get("impressions"), "two positions, the new list only");
        }
    }
}
