package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.List;
import org.apache.avro.generic.GenericRecord;

/**
 * Encodes the features job's outputs once, to the Avro binary of their contract records, keyed
 * for the compacted topics: hotel features by hotel (and hotel|destination), θ by method.
 */
final class FeaturesEncoder {
    private final AvroEncoding features = new AvroEncoding(Contract.HOTEL_FEATURES);
    private final AvroEncoding propensities = new AvroEncoding(Contract.POSITION_PROPENSITIES);

    /** Slot {@code i} of a hotel's counters: the decayed counts and the rates derived from them. */
    Output hotelFeatures(HotelCounters c, int i) {
        double weighted = c.weightedImpressions[i];
        GenericRecord record = features.record();
        record.put("hotel_id", c.hotelId);
        record.put("destination", c.destinations[i]);
        record.put("updated_at", c.updated[i]);
        record.put("impressions", c.impressions[i]);
        record.put("examined_impressions", c.examined[i]);
        record.put("clicks", c.clicks[i]);
        record.put("books", c.books[i]);
        record.put("quick_backs", c.quickBacks[i]);
        record.put("mean_dwell_seconds", c.dwellCount[i] > 0 ? c.dwellSum[i] / c.dwellCount[i] : null);
        record.put("debiased_ctr", weighted > 0 ? (c.clicks[i] + c.quickBacks[i]) / weighted : null);
        record.put("debiased_book_rate", weighted > 0 ? c.books[i] / weighted : null);
        return new Output(Output.Sink.HOTEL_FEATURES, OutputEncoder.key(c.key(i)), features.encode(record));
    }

    /** A published estimate; {@code band} is null for EM. */
    Output propensities(
            String method, long at, double[] theta, double[][] band, MethodCounts counts, double maxWeight) {
        GenericRecord record = propensities.record();
        record.put("method", method);
        record.put("version", Propensities.version(method, at, theta, maxWeight));
        record.put("estimated_at", at);
        record.put("theta", list(theta));
        record.put("lower", band == null ? null : list(band[0]));
        record.put("upper", band == null ? null : list(band[1]));
        record.put("impressions", list(counts.impressions));
        record.put("clicks", list(counts.clicks));
        record.put("max_weight", maxWeight);
        return new Output(Output.Sink.PROPENSITIES, OutputEncoder.key(method), propensities.encode(record));
    }

    private static List<Double> list(double[] values) {
        List<Double> list = new ArrayList<>(values.length);
        for (double value : values) {
            list.add(value);
        }
        return list;
    }
}
