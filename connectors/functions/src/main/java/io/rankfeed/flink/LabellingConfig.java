package io.rankfeed.flink;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.Serializable;
import java.util.Set;

/**
 * The labelling job's configuration as it crosses from Python into the JVM: one JSON document
 * written by {@code rankfeed.job.labelling.labelling_config} from the typed {@code JobSettings},
 * read here into one immutable-by-convention object. Defaults live only on the Python side: an
 * unknown key or a missing one fails the job at submission with the key's name.
 */
public final class LabellingConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Topic names (the Python {@code Topics} model). */
    public static final class Topics implements Serializable {
        private static final long serialVersionUID = 1L;
        @JsonProperty("user_actions") public String userActions;
        @JsonProperty("user_actions_clean") public String clean;
        @JsonProperty("feedback_events") public String feedback;
        @JsonProperty("ltr_examples") public String ltr;
        @JsonProperty("session_summaries") public String sessions;
        @JsonProperty("search_exposures") public String exposures;
        @JsonProperty("late") public String late;
        @JsonProperty("dlq") public String dlq;
        /** Requests to erase a user, keyed by the user: kept by {@link ErasedUsers} in the labeller. */
        @JsonProperty("erasure_requests") public String erasureRequests;
    }

    /** Graded relevance per kind of feedback. */
    public static final class Labels implements Serializable {
        private static final long serialVersionUID = 1L;
        @JsonProperty("click") public Integer click;
        @JsonProperty("book") public Integer book;
        @JsonProperty("ignore") public Integer ignore;
        @JsonProperty("quick_back") public Integer quickBack;
    }

    /** The propensity table the examples are weighted with (IPS); absent: weights stay 1. */
    public static final class Propensity implements Serializable {
        private static final long serialVersionUID = 1L;
        @JsonProperty("version") public String version;
        /** θ_k by position, θ_1 first; positions past the end take the last value. */
        @JsonProperty("theta") public double[] theta;
        @JsonProperty("max_weight") public Double maxWeight;
    }

    @JsonProperty("kafka") public KafkaConfig kafka;
    @JsonProperty("topics") public Topics topics;
    @JsonProperty("labels") public Labels labels;
    @JsonProperty("watermark_delay_ms") public Long watermarkDelayMs;
    @JsonProperty("source_idle_timeout_ms") public Long sourceIdleTimeoutMs;
    @JsonProperty("quick_back_threshold_ms") public Long quickBackThresholdMs;
    @JsonProperty("session_gap_ms") public Long sessionGapMs;
    /** Examined depth of a search without clicks; 0 drops such searches. */
    @JsonProperty("no_click_top_k") public Integer noClickTopK;
    /** Optional (null: no table). */
    @JsonProperty("propensity") public Propensity propensity;

    /** Parses and checks the JSON document; the message names every unknown or missing key. */
    public static LabellingConfig parse(String json) {
        return ConfigDocument.parse(json, LabellingConfig.class, "labelling configuration", Set.of("propensity"));
    }

    /** θ at a 1-based position, or null without a propensity table. */
    Double theta(int position) {
        if (propensity == null) {
            return null;
        }
        double[] table = propensity.theta;
        return table[Math.min(Math.max(position, 1), table.length) - 1];
    }
}
