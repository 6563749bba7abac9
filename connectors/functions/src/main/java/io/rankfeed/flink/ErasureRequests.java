package io.rankfeed.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The compacted erasure-requests topic as the stream of erased users the labeller is connected to: its keys
 * are the users (the gateway's pseudonyms, written by {@code rankfeed forget}); records without a key are
 * skipped. {@link ErasedUsers} keeps what it reads.
 */
final class ErasureRequests implements KafkaRecordDeserializationSchema<String> {
    private static final long serialVersionUID = 1L;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<String> out) {
        if (record.key() != null && record.key().length > 0) {
            out.collect(new String(record.key(), StandardCharsets.UTF_8));
        }
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return BasicTypeInfo.STRING_TYPE_INFO;
    }

    /**
     * The requests carry no event time: their input is always idle, so the labeller's watermark (its timers) is
     * the actions' alone. A two-input operator, the keyed labeller included, advances on the smaller watermark of
     * its active inputs: a request input left active at no watermark would hold every session's timer back for
     * good, and an end-of-time watermark here would be forwarded as soon as the actions' partitions went idle,
     * firing every timer and making every later action late.
     */
    static WatermarkStrategy<String> noEventTime() {
        return WatermarkStrategy.forGenerator(context -> new WatermarkGenerator<String>() {
            @Override
            public void onEvent(String user, long timestamp, WatermarkOutput output) {
                output.markIdle();
            }

            @Override
            public void onPeriodicEmit(WatermarkOutput output) {
                output.markIdle();
            }
        });
    }
}
