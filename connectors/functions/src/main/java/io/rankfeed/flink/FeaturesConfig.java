package io.rankfeed.flink;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.Serializable;
import java.util.Set;

/**
 * The features job's configuration: one JSON document written by
 * {@code rankfeed.job.features.features_config} from the typed {@code JobSettings}. Defaults live
 * only on the Python side: an unknown or missing key fails the job at submission, by name.
 */
public final class FeaturesConfig implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Topic names (the Python {@code Topics} model). */
    public static final class Topics implements Serializable {
        private static final long serialVersionUID = 1L;
        @JsonProperty("search_exposures") public String searchExposures;
        @JsonProperty("hotel_features") public String hotelFeatures;
        @JsonProperty("position_propensities") public String positionPropensities;
    }

    /** Per-hotel decayed features. */
    public static final class Features implements Serializable {
        private static final long serialVersionUID = 1L;
        @JsonProperty("half_life_ms") public Double halfLifeMs;
        /** Processing time: a changed hotel is written at most once per interval. */
        @JsonProperty("emit_interval_ms") public Long emitIntervalMs;
        /** θ_k = (1/k)^η without a propensity table. */
        @JsonProperty("position_bias_eta") public Double positionBiasEta;
    }

    /** In-stream θ estimation. */
    public static final class Propensities implements Serializable {
        private static final long serialVersionUID = 1L;
        /** False: the branch is left out. */
        @JsonProperty("estimation") public Boolean estimation;
        @JsonProperty("half_life_ms") public Double halfLifeMs;
        /** Tumbling event-time window the counts are aggregated in; one publication point per completed step. */
        @JsonProperty("window_ms") public Long windowMs;
        /** Processing time between two publications of one method; closer points are coalesced. */
        @JsonProperty("min_publish_interval_ms") public Long minPublishIntervalMs;
        @JsonProperty("prior_strength") public Double priorStrength;
        @JsonProperty("prior_eta") public Double priorEta;
        @JsonProperty("max_position") public Integer maxPosition;
        @JsonProperty("em_iterations") public Integer emIterations;
        @JsonProperty("max_weight") public Double maxWeight;
    }

    @JsonProperty("kafka") public KafkaConfig kafka;
    @JsonProperty("topics") public Topics topics;
    @JsonProperty("watermark_delay_ms") public Long watermarkDelayMs;
    @JsonProperty("source_idle_timeout_ms") public Long sourceIdleTimeoutMs;
    @JsonProperty("features") public Features features;
    @JsonProperty("propensities") public Propensities propensities;
    /** The submission's propensity table, the labelling job's section (null: θ_k = (1/k)^η). */
    @JsonProperty("propensity") public LabellingConfig.Propensity propensity;

    public static FeaturesConfig parse(String json) {
        return ConfigDocument.parse(json, FeaturesConfig.class, "features configuration", Set.of("propensity"));
    }

    /** The θ the features are debiased with: the table's, or the default curve. */
    Examination examination() {
        return new Examination(propensity == null ? null : propensity.theta, features.positionBiasEta);
    }
}
