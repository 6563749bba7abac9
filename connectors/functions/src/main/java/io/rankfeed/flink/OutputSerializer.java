package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Optional;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetIdentifier;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Routes each pre-encoded {@link Output} to its topic: one transactional producer writes them all. */
public class OutputSerializer implements KafkaRecordSerializationSchema<Output>, KafkaDatasetFacetProvider {
    private static final long serialVersionUID = 1L;
    private final EnumMap<Output.Sink, String> topics = new EnumMap<>(Output.Sink.class);

    public OutputSerializer(LabellingConfig.Topics names) {
        topics.put(Output.Sink.CLEAN, names.clean);
        topics.put(Output.Sink.FEEDBACK, names.feedback);
        topics.put(Output.Sink.LTR, names.ltr);
        topics.put(Output.Sink.SESSIONS, names.sessions);
        topics.put(Output.Sink.EXPOSURES, names.exposures);
        topics.put(Output.Sink.LATE, names.late);
        topics.put(Output.Sink.DLQ, names.dlq);
    }

    public OutputSerializer(FeaturesConfig.Topics names) {
        topics.put(Output.Sink.HOTEL_FEATURES, names.hotelFeatures);
        topics.put(Output.Sink.PROPENSITIES, names.positionPropensities);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Output output, KafkaSinkContext context, Long timestamp) {
        // No record timestamp: the broker's clock, so time-based retention counts from the write, not from a
        // replayed event time days ago.
        String topic = topics.get(output.sink);
        if (output.partition != null) {
            // Addressed to a partition (a watermark beacon): none for partitions the topic lacks.
            int partitions = context.getPartitionsForTopic(topic).length;
            return output.partition < partitions
                    ? new ProducerRecord<>(topic, output.partition, output.key, output.value)
                    : null;
        }
        return new ProducerRecord<>(topic, output.key, output.value);
    }

    /** The topics written: the POOLING transaction naming strategy needs them to find lingering transactions. */
    @Override
    public Optional<KafkaDatasetFacet> getKafkaDatasetFacet() {
        return Optional.of(new DefaultKafkaDatasetFacet(
                DefaultKafkaDatasetIdentifier.ofTopics(new ArrayList<>(topics.values()))));
    }
}
