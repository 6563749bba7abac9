package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.List;

/** Price or rating standardized within one result list: z-score and rank percentile. */
final class Normalizer {
    private final List<Double> values = new ArrayList<>();
    private final double mean;
    private final double std;

    /** Over the known (non-null) values among {@code listed}. */
    Normalizer(Iterable<Double> listed) {
        double sum = 0;
        for (Double value : listed) {
            if (value != null) {
                values.add(value);
                sum += value;
            }
        }
        mean = values.isEmpty() ? 0 : sum / values.size();
        double squares = 0;
        for (double value : values) {
            squares += (value - mean) * (value - mean);
        }
        std = values.isEmpty() ? 0 : Math.sqrt(squares / values.size());
    }

    /** (x - mean) / std over the list's known values (population std); 0 when all are equal; null for null. */
    Double zscore(Double value) {
        if (value == null) {
            return null;
        }
        return std == 0 ? 0.0 : (value - mean) / std;
    }

    /** 0 for the lowest value, 1 for the highest, ties at their mean rank; 0.5 for a list of one. */
    Double rankPercentile(Double value) {
        if (value == null) {
            return null;
        }
        int below = 0;
        int equal = 0;
        for (double other : values) {
            if (other < value) {
                below++;
            } else if (other == value) {
                equal++;
            }
        }
        if (values.size() < 2) {
            return 0.5;
        }
        return (below + (equal - 1) / 2.0) / (values.size() - 1);
    }
}
