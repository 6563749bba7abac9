package io.rankfeed.flink;

import java.time.Duration;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/**
 * The labelling job's dataflow, built into the environment {@code jobs/labelling.py} created:
 *
 * <pre>
 *   user-actions (raw bytes; event time and session id from the leading fields; bounded-out-of-orderness watermark)
 *     └─ keyBy (user_id, session_id) ─ SessionLabellerFunction (LateRouter first) ─ WatermarkBeacons ─ KafkaSink
 *          clean, feedback, ltr, sessions, search-exposures (+ beacons), late, dlq: one exactly-once producer
 * </pre>
 *
 * <p>Only the raw actions cross the network (the keyBy); the labeller, the beacons and the sink are
 * one chain, so the ~3.7 output records per action are never serialized between tasks.
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
        actions
                .keyBy(LabellingJob::sessionKey)
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
        OffsetsInitializer start;
        switch (config.kafka.startupMode) {
            case "earliest-offset":
                start = OffsetsInitializer.earliest();
                break;
            case "latest-offset":
                start = OffsetsInitializer.latest();
                break;
            case "group-offsets":
                start = OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
                break;
            default:
                throw new IllegalArgumentException("unknown startup_mode " + config.kafka.startupMode);
        }
        return KafkaSource.<RawAction>builder()
                .setBootstrapServers(config.kafka.bootstrapServers)
                .setTopics(config.topics.userActions)
                .setGroupId(config.kafka.consumerGroup)
                .setStartingOffsets(start)
                .setDeserializer(new RawActionDeserializer())
                .setProperty("isolation.level", "read_committed")
                .build();
    }

    static KafkaSink<Output> sink(LabellingConfig config) {
        Properties producer = new Properties();
        // The broker caps transactions at transaction.max.timeout.ms (15 min by default).
        producer.setProperty("transaction.timeout.ms", String.valueOf(config.kafka.transactionTimeoutMs));
        // Output is visible at checkpoints only; a short linger fills batches without adding to that.
        producer.setProperty("linger.ms", "20");
        producer.setProperty("batch.size", "262144");
        producer.setProperty("compression.type", "lz4");
        return KafkaSink.<Output>builder()
                .setBootstrapServers(config.kafka.bootstrapServers)
                .setRecordSerializer(new OutputSerializer(config.topics))
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(config.kafka.transactionalIdPrefix)
                .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                .setKafkaProducerConfig(producer)
                .build();
    }
}
