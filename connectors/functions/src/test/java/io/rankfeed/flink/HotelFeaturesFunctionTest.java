package io.rankfeed.flink;

import static io.rankfeed.flink.Exposures.HOUR;
import static io.rankfeed.flink.Exposures.INTERVAL;
import static io.rankfeed.flink.Exposures.list;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/** Hotel features in the keyed operator harness: decayed counts, debiasing, and emission per interval. */
class HotelFeaturesFunctionTest {
    private static final long HALF_LIFE = 168 * HOUR;

    private static KeyedOneInputStreamOperatorTestHarness<String, HotelExposure, Output> harness() throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, HotelExposure, Output> harness =
                new KeyedOneInputStreamOperatorTestHarness<>(
                        new KeyedProcessOperator<>(new HotelFeaturesFunction(Exposures.defaults())),
                        exposure -> exposure.hotelId,
                        Types.STRING);
        harness.open();
        return harness;
    }

    /** Every hotel of {@code list}, as the job's split hands them to the keyed function. */
    private static void send(KeyedOneInputStreamOperatorTestHarness<String, HotelExposure, Output> harness, ExposureList list)
            throws Exception {
        List<HotelExposure> exposures = new ArrayList<>();
        new HotelExposure.Split().flatMap(list, new Collector<>() {
            @Override
            public void collect(HotelExposure exposure) {
                exposures.add(exposure);
            }

            @Override
            public void close() {}
        });
        for (HotelExposure exposure : exposures) {
            harness.processElement(exposure, list.closedAt);
        }
    }

    private static List<Map<String, Object>> records(KeyedOneInputStreamOperatorTestHarness<String, HotelExposure, Output> harness) {
        return Records.of(harness.extractOutputValues(), Output.Sink.HOTEL_FEATURES);
    }

    private static Map<String, Object> latest(List<Map<String, Object>> records, String hotel, String destination) {
        Map<String, Object> found = null;
        for (Map<String, Object> record : records) {
            if (hotel.equals(record.get("hotel_id")) && java.util.Objects.equals(destination, record.get("destination"))) {
                found = record;
            }
        }
        return found;
    }

    @Test
    void countsAreDecayedExactlyAndDebiasedByPosition() throws Exception {
        try (var harness = harness()) {
            send(harness, list(HOUR, "Paris", false, List.of("H1", "H2"), null, "click"));
            // A week later (one half-life) H2 is shown again at position 1 and not clicked.
            send(harness, list(HOUR + HALF_LIFE, "Paris", false, List.of("H2")));
            harness.setProcessingTime(INTERVAL);
            Map<String, Object> h2 = latest(records(harness), "H2", null);
            assertEquals(1.5, (double) h2.get("impressions"), 1e-12, "1 decayed by half, plus 1");
            assertEquals(0.5, (double) h2.get("clicks"), 1e-12);
            assertEquals(0.5, (double) h2.get("examined_impressions"), 1e-12);
            assertEquals(30.0, (double) h2.get("mean_dwell_seconds"), 1e-12);
            // Examination-weighted impressions: θ_2 = 1/2 decayed to 1/4, plus θ_1 = 1.
            assertEquals(0.5 / 1.25, (double) h2.get("debiased_ctr"), 1e-12);
            assertEquals(HOUR + HALF_LIFE, h2.get("updated_at"));
            Map<String, Object> h1 = latest(records(harness), "H1", "Paris");
            assertEquals(1.0, (double) h1.get("impressions"), 1e-12, "unexamined impressions count too");
            assertEquals(1.0, (double) h1.get("examined_impressions"), 0.0, "above the click: examined");
            assertNull(h1.get("mean_dwell_seconds"));
        }
    }

    @Test
    void eachChangedKeyIsWrittenOncePerIntervalUnderItsCompactionKey() throws Exception {
        try (var harness = harness()) {
            harness.setProcessingTime(1_000);
            for (int i = 0; i < 50; i++) {
                send(harness, list(HOUR + i * 1_000, "Paris", false, List.of("H1", "H2")));
            }
            assertEquals(0, records(harness).size(), "nothing before the interval ends");
            harness.setProcessingTime(INTERVAL);
            List<String> keys = new ArrayList<>();
            for (Output output : harness.extractOutputValues()) {
                keys.add(new String(output.key, java.nio.charset.StandardCharsets.UTF_8));
            }
            java.util.Collections.sort(keys);
            assertEquals(List.of("H1", "H1|Paris", "H2", "H2|Paris"), keys);
            double decayed = 0;
            for (int i = 0; i < 50; i++) {
                decayed += Math.pow(0.5, (49 - i) * 1_000.0 / HALF_LIFE);
            }
            assertEquals(decayed, (double) latest(records(harness), "H1", null).get("impressions"), 1e-9);
            // Only H2 changes in the next interval: only H2's two records are written.
            send(harness, list(HOUR + 60_000, "Paris", false, List.of("H2")));
            harness.setProcessingTime(3 * INTERVAL);
            assertEquals(6, records(harness).size());
            harness.setProcessingTime(5 * INTERVAL);
            assertEquals(6, records(harness).size(), "an unchanged hotel is not written again");
        }
    }

    @Test
    void countersAndThePendingEmissionSurviveARestore() throws Exception {
        OperatorSubtaskState snapshot;
        try (var harness = harness()) {
            send(harness, list(HOUR, null, false, List.of("H1")));
            snapshot = harness.snapshot(1, 10);
        }
        try (var restored = new KeyedOneInputStreamOperatorTestHarness<String, HotelExposure, Output>(
                new KeyedProcessOperator<>(new HotelFeaturesFunction(Exposures.defaults())),
                exposure -> exposure.hotelId,
                Types.STRING)) {
            restored.initializeState(snapshot);
            restored.open();
            send(restored, list(HOUR, null, false, List.of("H1")));
            restored.setProcessingTime(INTERVAL);
            List<Map<String, Object>> records = records(restored);
            assertEquals(1, records.size(), "one key without destination: one record");
            assertEquals(2.0, (double) records.get(0).get("impressions"), 1e-12);
        }
    }

    @Test
    void stateAndShuffledRecordsUseFlinkPojoSerializersNotKryo() {
        assertInstanceOf(PojoTypeInfo.class, TypeInformation.of(HotelCounters.class));
        assertInstanceOf(PojoTypeInfo.class, TypeInformation.of(HotelExposure.class));
        assertInstanceOf(PojoTypeInfo.class, TypeInformation.of(ExposureList.class));
        assertInstanceOf(PojoTypeInfo.class, TypeInformation.of(Output.class));
    }
}
