package io.rankfeed.flink;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.Serializable;
import java.util.Properties;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/** Where a job reads and writes (the {@code kafka} section of a job's configuration), and how. */
public final class KafkaConfig implements Serializable {
    private static final long serialVersionUID = 1L;
    @JsonProperty("bootstrap_servers") public String bootstrapServers;
    @JsonProperty("consumer_group") public String consumerGroup;
    /** earliest-offset, latest-offset or group-offsets. */
    @JsonProperty("startup_mode") public String startupMode;
    @JsonProperty("transactional_id_prefix") public String transactionalIdPrefix;
    @JsonProperty("transaction_timeout_ms") public Integer transactionTimeoutMs;

    /** A source of {@code topic} read {@code read_committed} from the configured start, offsets under the group. */
    <T> KafkaSource<T> committedSource(String topic, KafkaRecordDeserializationSchema<T> deserializer) {
        return source(topic, deserializer, startingOffsets());
    }

    /** A source of {@code topic} read {@code read_committed} from its first record, offsets under the group. */
    <T> KafkaSource<T> sourceFromStart(String topic, KafkaRecordDeserializationSchema<T> deserializer) {
        return source(topic, deserializer, OffsetsInitializer.earliest());
    }

    private <T> KafkaSource<T> source(
            String topic, KafkaRecordDeserializationSchema<T> deserializer, OffsetsInitializer start) {
        return KafkaSource.<T>builder()
                .setBootstrapServers(bootstrapServers)
                .setTopics(topic)
                .setGroupId(consumerGroup)
                .setStartingOffsets(start)
                .setDeserializer(deserializer)
                .setProperty("isolation.level", "read_committed")
                .build();
    }

    private OffsetsInitializer startingOffsets() {
        switch (startupMode) {
            case "earliest-offset":
                return OffsetsInitializer.earliest();
            case "latest-offset":
                return OffsetsInitializer.latest();
            case "group-offsets":
                return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            default:
                throw new IllegalArgumentException("unknown startup_mode " + startupMode);
        }
    }

    /**
     * One transactional producer for every topic of a job (atomic across topics, one flush and one
     * commit per checkpoint), with pooled transactional ids.
     */
    <T> KafkaSink<T> exactlyOnceSink(KafkaRecordSerializationSchema<T> serializer) {
        Properties producer = new Properties();
        // The broker caps transactions at transaction.max.timeout.ms (15 min by default).
        producer.setProperty("transaction.timeout.ms", String.valueOf(transactionTimeoutMs));
        // Output is visible at checkpoints only; a short linger fills batches without adding to that.
        producer.setProperty("linger.ms", "20");
        producer.setProperty("batch.size", "262144");
        producer.setProperty("compression.type", "lz4");
        return KafkaSink.<T>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(serializer)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                .setKafkaProducerConfig(producer)
                .build();
    }
}
