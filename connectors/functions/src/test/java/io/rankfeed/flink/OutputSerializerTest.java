package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** Routing of pre-encoded outputs to the configured topics. */
class OutputSerializerTest {
    private final OutputSerializer serializer = new OutputSerializer(Configs.defaults().topics);

    private static KafkaRecordSerializationSchema.KafkaSinkContext partitions(int count) {
        return new KafkaRecordSerializationSchema.KafkaSinkContext() {
            @Override
            public int getParallelInstanceId() {
                return 0;
            }

            @Override
            public int getNumberOfParallelInstances() {
                return 1;
            }

            @Override
            public int[] getPartitionsForTopic(String topic) {
                int[] partitions = new int[count];
                for (int i = 0; i < count; i++) {
                    partitions[i] = i;
                }
                return partitions;
            }
        };
    }

    @Test
    void eachSinkGoesToItsTopicWithKeyAndValueUntouched() {
        Map<Output.Sink, String> expected = Map.of(
                Output.Sink.CLEAN, "user-actions-clean",
                Output.Sink.FEEDBACK, "feedback-events",
                Output.Sink.LTR, "ltr-examples",
                Output.Sink.SESSIONS, "session-summaries",
                Output.Sink.EXPOSURES, "search-exposures",
                Output.Sink.LATE, "user-actions-late",
                Output.Sink.DLQ, "user-actions-dlq");
        assertEquals(Output.Sink.values().length, expected.size() + 2, "and the features job's two");
        byte[] key = "s1".getBytes(StandardCharsets.UTF_8);
        byte[] value = {1, 2, 3};
        for (Map.Entry<Output.Sink, String> entry : expected.entrySet()) {
            ProducerRecord<byte[], byte[]> record =
                    serializer.serialize(new Output(entry.getKey(), key, value), partitions(4), 123L);
            assertEquals(entry.getValue(), record.topic());
            assertArrayEquals(key, record.key());
            assertArrayEquals(value, record.value());
            assertNull(record.partition(), "partitioned by key");
            assertNull(record.timestamp(), "the broker's clock, not the event time");
        }
    }

    @Test
    void anOutputAddressedToAPartitionGoesThereOrNowhere() {
        byte[] beacon = {9};
        ProducerRecord<byte[], byte[]> record =
                serializer.serialize(new Output(Output.Sink.EXPOSURES, 3, beacon), partitions(4), null);
        assertEquals(3, record.partition());
        assertEquals("search-exposures", record.topic());
        assertNull(serializer.serialize(new Output(Output.Sink.EXPOSURES, 4, beacon), partitions(4), null),
                "a partition the topic lacks");
    }

    @Test
    void theFacetListsEveryTopicWritten() {
        List<String> topics = serializer.getKafkaDatasetFacet().orElseThrow().getTopicIdentifier().getTopics();
        assertEquals(7, topics.size());
        assertEquals(true, topics.containsAll(List.of("user-actions-clean", "feedback-events", "ltr-examples",
                "session-summaries", "search-exposures", "user-actions-late", "user-actions-dlq")));
    }

    @Test
    void theFeaturesJobWritesFeaturesAndThetaByCompactionKey() {
        OutputSerializer features = new OutputSerializer(Exposures.defaults().topics);
        byte[] key = "H1|Paris".getBytes(StandardCharsets.UTF_8);
        ProducerRecord<byte[], byte[]> record =
                features.serialize(new Output(Output.Sink.HOTEL_FEATURES, key, new byte[] {1}), partitions(3), null);
        assertEquals("hotel-features", record.topic());
        assertArrayEquals(key, record.key());
        record = features.serialize(new Output(Output.Sink.PROPENSITIES, key, new byte[] {1}), partitions(1), null);
        assertEquals("position-propensities", record.topic());
        assertEquals(
                List.of("hotel-features", "position-propensities"),
                features.getKafkaDatasetFacet().orElseThrow().getTopicIdentifier().getTopics().stream()
                        .sorted()
                        .collect(java.util.stream.Collectors.toList()));
    }
}
