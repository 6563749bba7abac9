package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.junit.jupiter.api.Test;

/** The features job's watermark: the labeller's, minus the delay, moved by beacons too. */
class LabellerWatermarksTest {
    private final List<Long> emitted = new ArrayList<>();
    private final WatermarkOutput output = new WatermarkOutput() {
        @Override
        public void emitWatermark(Watermark watermark) {
            emitted.add(watermark.getTimestamp());
        }

        @Override
        public void markIdle() {}

        @Override
        public void markActive() {}
    };

    @Test
    void theLargestLabellerWatermarkMinusTheDelayIsEmitted() throws Exception {
        LabellerWatermarks watermarks = new LabellerWatermarks(5_000);
        ExposureList unknown = Exposures.list(50_000, null, false, List.of("H1"));
        unknown.labellerWatermark = null;
        watermarks.onEvent(unknown, 50_000, output);
        watermarks.onPeriodicEmit(output);
        assertTrue(emitted.isEmpty(), "a record that carries no watermark moves nothing");
        ExposureList beacon = new ExposureListDeserializer().decode(new OutputEncoder().beacon(100_000));
        assertTrue(beacon.isBeacon());
        watermarks.onEvent(beacon, beacon.closedAt, output);
        watermarks.onEvent(Exposures.list(90_000, null, false, List.of("H1")), 90_000, output);
        watermarks.onPeriodicEmit(output);
        assertEquals(List.of(95_000L), emitted, "the beacon's 100 s minus 5 s; an older record does not pull it back");
    }

    @Test
    void aRecordTheLabellerWroteDecodesWithEveryHotel() throws Exception {
        AvroEncoding encoding = new AvroEncoding(Contract.SEARCH_EXPOSURES);
        org.apache.avro.generic.GenericRecord record = encoding.record();
        org.apache.avro.Schema item = encoding.schema.getField("exposures").schema().getElementType();
        List<Object> items = new ArrayList<>();
        for (int position = 1; position <= 2; position++) {
            org.apache.avro.generic.GenericRecord shown = new org.apache.avro.generic.GenericData.Record(item);
            shown.put("hotel_id", "H" + position);
            shown.put("position", position);
            shown.put("examined", position == 1);
            shown.put("outcome", position == 1 ? "click" : null);
            shown.put("dwell_seconds", position == 1 ? 12.5 : null);
            items.add(shown);
        }
        for (Map.Entry<String, Object> field : Map.<String, Object>of(
                        "search_id", "q", "session_id", "s", "destination", "Paris", "ranking_randomized", true,
                        "search_time", 1L, "closed_at", 2L, "labeller_watermark", 1L, "exposures", items)
                .entrySet()) {
            record.put(field.getKey(), field.getValue());
        }
        ExposureList list = new ExposureListDeserializer().decode(encoding.encode(record));
        assertEquals("Paris", list.destination);
        assertEquals(2L, list.closedAt);
        assertEquals(List.of("H1", "H2"), List.of(list.hotelIds));
        assertEquals("click", list.outcomes[0]);
        assertEquals(12.5, list.dwellSeconds[0], 0.0);
        assertTrue(Double.isNaN(list.dwellSeconds[1]) && list.outcomes[1] == null && !list.examined[1]);
    }
}
