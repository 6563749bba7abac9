package io.rankfeed.flink;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The labelling job's dataflow, built into the environment {@code jobs/labelling.py} created:
 *
 * <pre>
 *   user-actions (raw bytes; event time and session id from the leading fields; bounded-out-of-orderness watermark)
 *     └─ keyBy (user_id, session_id) ─┬─ SessionLabellerFunction ─ WatermarkBeacons ─ KafkaSink
 *   erasure-requests ─ broadcast ─────┘   (ErasedUsers,       clean, feedback, ltr, sessions,
 *     (erased users, no event time)        then LateRouter)   search-exposures (+ beacons), late, dlq:
 *                                                             one exactly-once producer
 * </pre>
 *
 * <p>Only the raw actions cross the network (the keyBy), once: the erasure check is the keyed labeller's
 * broadcast input, not an operator of its own before the keyBy (a two-input operator does not chain with the
 * source, so that would serialize every action twice). The labeller, the beacons and the sink are one chain,
 * so the ~3.7 output records per action are never serialized between tasks. The erasure requests carry no
 * event time ({@link ErasureRequests#noEventTime()}): the labeller's watermark is the actions'.
 *
 * <p>One transactional producer writes every topic (atomic across topics, one flush and one commit
 * per checkpoint), with pooled transactional ids. Operator uids are stable: savepoints restore.
 */
public final class LabellingJob {
    /** Keyed state is split into this many key groups: the most the labeller can ever be rescaled to. */
    public static final int MAX_PARALLELISM = 128;

    private LabellingJob() {}

    /** Adds the labelling dataflow to {@code env}; {@code configJson} is {@link LabellingConfig}'s document. */
    public static void build(StreamExecutionEnvironment env, String configJson) {
        LabellingConfig config = LabellingConfig.parse(configJson);
        DataStream<RawAction> actions = env.fromSource(source(config), watermarks(config), "user-actions")
                .uid("user-actions-source");
        BroadcastStream<String> erased = env.fromSource(
                        erasureRequests(config), ErasureRequests.noEventTime(), "erasure-requests")
                .uid("erasure-requests-to-labeller")
                .setParallelism(1)
                .broadcast(ErasedUsers.ERASED);
        actions
                .keyBy(LabellingJob::sessionKey)
                .connect(erased)
                .process(new SessionLabellerFunction(config))
                .name("session-labeller")
                .uid("session-labeller")
                .setMaxParallelism(MAX_PARALLELISM)
                .transform("watermark-beacons", TypeInformation.of(Output.class), new WatermarkBeacons())
                .uid("watermark-beacons")
                .sinkTo(sink(config))
                .name("labelling-topics")
                .uid("labelling-topics");
    }

    /** Key of the labeller: the session key; unreadable records (rejected on arrival) share one key. */
    static String sessionKey(RawAction action) {
        return action.sessionKey == null ? "" : action.sessionKey;
    }

    /** Event time from the leading fields, bounded out-of-orderness, idle partitions released. */
    static WatermarkStrategy<RawAction> watermarks(LabellingConfig config) {
        return WatermarkStrategy.<RawAction>forBoundedOutOfOrderness(Duration.ofMillis(config.watermarkDelayMs))
                .withTimestampAssigner((action, previous) -> action.eventTime)
                .withIdleness(Duration.ofMillis(config.sourceIdleTimeoutMs));
    }

    static KafkaSource<RawAction> source(LabellingConfig config) {
        return config.kafka.committedSource(config.topics.userActions, new RawActionDeserializer());
    }

    /** Every erasure request from the topic's start, whatever the job's startup mode. */
    static KafkaSource<String> erasureRequests(LabellingConfig config) {
        return config.kafka.sourceFromStart(config.topics.erasureRequests, new ErasureRequests());
    }

    static KafkaSink<Output> sink(LabellingConfig config) {
        return config.kafka.exactlyOnceSink(new OutputSerializer(config.topics));
    }
}
