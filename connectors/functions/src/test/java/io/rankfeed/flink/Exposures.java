package io.rankfeed.flink;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The features job's test inputs: its configuration document and result lists. */
final class Exposures {
    static final long HOUR = 3_600_000;
    static final long WINDOW = 60_000;
    static final long INTERVAL = 5_000;

    private Exposures() {}

    /** A complete document with the Python defaults; mutable, so a test can change or remove keys. */
    static Map<String, Object> document() {
        Map<String, Object> topics = new LinkedHashMap<>();
        topics.put("search_exposures", "search-exposures");
        topics.put("hotel_features", "hotel-features");
        topics.put("position_propensities", "position-propensities");
        Map<String, Object> features = new LinkedHashMap<>();
        features.put("half_life_ms", 168.0 * HOUR);
        features.put("emit_interval_ms", INTERVAL);
        features.put("position_bias_eta", 1.0);
        Map<String, Object> propensities = new LinkedHashMap<>();
        propensities.put("estimation", true);
        propensities.put("half_life_ms", 24.0 * HOUR);
        propensities.put("window_ms", WINDOW);
        propensities.put("min_publish_interval_ms", INTERVAL);
        propensities.put("prior_strength", 200.0);
        propensities.put("prior_eta", 1.0);
        propensities.put("max_position", 3);
        propensities.put("em_iterations", 20);
        propensities.put("max_weight", 10.0);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kafka", Configs.document().get("kafka"));
        doc.put("topics", topics);
        doc.put("watermark_delay_ms", 5_000);
        doc.put("source_idle_timeout_ms", 30_000);
        doc.put("features", features);
        doc.put("propensities", propensities);
        return doc;
    }

    static FeaturesConfig config(Map<String, Object> document) {
        return FeaturesConfig.parse(Configs.json(document));
    }

    static FeaturesConfig defaults() {
        return config(document());
    }

    /** One list closed at {@code closedAt}: hotels at positions 1.., {@code outcomes} by position (null: none). */
    static ExposureList list(long closedAt, String destination, boolean randomized, List<String> hotels, String... outcomes) {
        ExposureList list = new ExposureList();
        int n = hotels.size();
        list.destination = destination;
        list.randomized = randomized;
        list.closedAt = closedAt;
        list.labellerWatermark = closedAt - 1;
        list.hotelIds = hotels.toArray(new String[0]);
        list.positions = new int[n];
        list.examined = new boolean[n];
        list.outcomes = new String[n];
        list.dwellSeconds = new double[n];
        for (int i = 0; i < n; i++) {
            list.positions[i] = i + 1;
            list.outcomes[i] = i < outcomes.length ? outcomes[i] : null;
            list.examined[i] = i < outcomes.length;
            list.dwellSeconds[i] = "click".equals(list.outcomes[i]) ? 30.0 : Double.NaN;
        }
        return list;
    }
}
