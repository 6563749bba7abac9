package io.rankfeed.flink;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Kafka records of user-actions as {@link RawAction}s: bytes untouched, leading fields read, never throws. */
public class RawActionDeserializer implements KafkaRecordDeserializationSchema<RawAction> {
    private static final long serialVersionUID = 1L;
    private transient LeadingFields.Reader reader;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RawAction> out) {
        if (reader == null) {
            reader = new LeadingFields.Reader();
        }
        out.collect(new RawAction(record.value(), record.partition(), record.offset(), reader.read(record.value())));
    }

    @Override
    public TypeInformation<RawAction> getProducedType() {
        return TypeInformation.of(RawAction.class);
    }
}
