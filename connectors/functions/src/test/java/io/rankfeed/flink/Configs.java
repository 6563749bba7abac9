package io.rankfeed.flink;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The labelling configuration document as {@code rankfeed.job.labelling.labelling_config} writes it. */
final class Configs {
    static final long T = 10_000;
    static final long GAP = 1_800_000;

    private Configs() {}

    /** A complete document with the Python defaults; mutable, so a test can change or remove keys. */
    static Map<String, Object> document() {
        Map<String, Object> kafka = new LinkedHashMap<>();
        kafka.put("bootstrap_servers", "localhost:9092");
        kafka.put("consumer_group", "rankfeed-labelling");
        kafka.put("startup_mode", "earliest-offset");
        kafka.put("transactional_id_prefix", "rankfeed-labelling");
        kafka.put("transaction_timeout_ms", 900_000);
        Map<String, Object> topics = new LinkedHashMap<>();
        topics.put("user_actions", "user-actions");
        topics.put("user_actions_clean", "user-actions-clean");
        topics.put("feedback_events", "feedback-events");
        topics.put("ltr_examples", "ltr-examples");
        topics.put("session_summaries", "session-summaries");
        topics.put("search_exposures", "search-exposures");
        topics.put("late", "user-actions-late");
        topics.put("dlq", "user-actions-dlq");
        topics.put("erasure_requests", "erasure-requests");
        Map<String, Object> labels = new LinkedHashMap<>();
        labels.put("click", 1);
        labels.put("book", 2);
        labels.put("ignore", 0);
        labels.put("quick_back", -1);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kafka", kafka);
        doc.put("topics", topics);
        doc.put("labels", labels);
        doc.put("watermark_delay_ms", 5_000);
        doc.put("source_idle_timeout_ms", 30_000);
        doc.put("quick_back_threshold_ms", T);
        doc.put("session_gap_ms", GAP);
        doc.put("no_click_top_k", 0);
        return doc;
    }

    static Map<String, Object> propensity(String version, List<Double> theta, double maxWeight) {
        Map<String, Object> propensity = new LinkedHashMap<>();
        propensity.put("version", version);
        propensity.put("theta", theta);
        propensity.put("max_weight", maxWeight);
        return propensity;
    }

    static String json(Map<String, Object> document) {
        try {
            return new ObjectMapper().writeValueAsString(document);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static LabellingConfig parse(Map<String, Object> document) {
        return LabellingConfig.parse(json(document));
    }

    static LabellingConfig defaults() {
        return parse(document());
    }

    /** The defaults with one top-level key changed. */
    static LabellingConfig with(String key, Object value) {
        Map<String, Object> doc = document();
        doc.put(key, value);
        return parse(doc);
    }
}
