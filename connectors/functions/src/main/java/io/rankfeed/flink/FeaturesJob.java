package io.rankfeed.flink;

import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The features job's dataflow, built into the environment {@code jobs/features.py} created:
 *
 * <pre>
 *   search-exposures (one record per result list; watermark = labeller_watermark - delay; beacons only move it)
 *     ├─ split per hotel ─ keyBy hotel_id ─ HotelFeaturesFunction (heap counters, emitted per interval) ─┐
 *     └─ keyBy "propensities" ─ PropensityFunction (window counts, θ per completed watermark step) ──────┴─▶ one exactly-once KafkaSink
 *                                                                                  hotel-features, position-propensities
 * </pre>
 *
 * <p>Every impression counts, examined or not: features and θ need the unexamined ones too, which
 * is why this job reads exposures and not ltr-examples. Operator uids are stable: savepoints restore.
 */
public final class FeaturesJob {
    private FeaturesJob() {}

    /** Adds the features dataflow to {@code env}; {@code configJson} is {@link FeaturesConfig}'s document. */
    public static void build(StreamExecutionEnvironment env, String configJson) {
        FeaturesConfig config = FeaturesConfig.parse(configJson);
        DataStream<ExposureList> lists = env.fromSource(
                        source(config), LabellerWatermarks.strategy(config), "search-exposures")
                .uid("search-exposures-source")
                .filter(list -> !list.isBeacon())
                .name("drop-beacons")
                .uid("drop-beacons");
        DataStream<Output> outputs = lists.flatMap(new HotelExposure.Split())
                .name("exposures-per-hotel")
                .uid("exposures-per-hotel")
                .keyBy(exposure -> exposure.hotelId)
                .process(new HotelFeaturesFunction(config))
                .name("hotel-features")
                .uid("hotel-features")
                .setMaxParallelism(LabellingJob.MAX_PARALLELISM);
        if (config.propensities.estimation) {
            DataStream<Output> propensities = lists.keyBy(list -> PropensityFunction.KEY)
                    .process(new PropensityFunction(config))
                    .name("position-propensities")
                    .uid("position-propensities")
                    .setMaxParallelism(LabellingJob.MAX_PARALLELISM);
            outputs = outputs.union(propensities);
        }
        outputs.sinkTo(sink(config)).name("features-topics").uid("features-topics");
    }

    static KafkaSource<ExposureList> source(FeaturesConfig config) {
        return config.kafka.committedSource(config.topics.searchExposures, new ExposureListDeserializer());
    }

    static KafkaSink<Output> sink(FeaturesConfig config) {
        return config.kafka.exactlyOnceSink(new OutputSerializer(config.topics));
    }
}
