package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** The labeller's watermark reaches search-exposures as beacons, the last one before a quiet period included. */
class WatermarkBeaconsTest {

    private static List<Object> beaconWatermarks(OneInputStreamOperatorTestHarness<Output, Output> harness) {
        List<Object> found = new ArrayList<>();
        for (Map<String, Object> record : Records.of(harness.extractOutputValues(), Output.Sink.EXPOSURES)) {
            found.add(record.get("labeller_watermark"));
        }
        return found;
    }

    @Test
    void aWatermarkWithinTheIntervalIsWrittenWhenTheIntervalEnds() throws Exception {
        try (OneInputStreamOperatorTestHarness<Output, Output> harness =
                new OneInputStreamOperatorTestHarness<>(new WatermarkBeacons())) {
            harness.open();
            harness.setProcessingTime(1_000);
            harness.processWatermark(new Watermark(10_000));
            assertEquals(WatermarkBeacons.MAX_PARTITIONS, beaconWatermarks(harness).size(), "one beacon per partition");
            harness.processWatermark(new Watermark(20_000)); // the last one before a quiet period, within 200 ms
            assertEquals(WatermarkBeacons.MAX_PARTITIONS, beaconWatermarks(harness).size(), "held until the interval ends");
            harness.setProcessingTime(1_000 + WatermarkBeacons.MIN_INTERVAL_MS);
            List<Object> watermarks = beaconWatermarks(harness);
            assertEquals(2 * WatermarkBeacons.MAX_PARTITIONS, watermarks.size());
            assertEquals(20_000L, ((Number) watermarks.get(watermarks.size() - 1)).longValue());
        }
    }

    @Test
    void elementsPassThroughAndAnUnchangedWatermarkWritesNothingNew() throws Exception {
        try (OneInputStreamOperatorTestHarness<Output, Output> harness =
                new OneInputStreamOperatorTestHarness<>(new WatermarkBeacons())) {
            harness.open();
            harness.processElement(new Output(Output.Sink.CLEAN, new byte[] {1}, new byte[] {2}), 5);
            harness.setProcessingTime(1_000);
            harness.processWatermark(new Watermark(10_000));
            harness.setProcessingTime(5_000);
            harness.processWatermark(new Watermark(10_000));
            long clean = harness.extractOutputValues().stream().filter(o -> o.sink == Output.Sink.CLEAN).count();
            assertEquals(1, clean, "the labeller's own records pass through");
            assertEquals(WatermarkBeacons.MAX_PARTITIONS, beaconWatermarks(harness).size());
        }
    }
}
