package io.rankfeed.flink;

import java.io.IOException;
import java.util.List;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Decodes search-exposures values (the contract's SearchExposures, written by the labelling job)
 * into {@link ExposureList}s. A value that does not decode fails the job, as Flink's {@code avro}
 * format did: the topic is written by this project's own job only.
 */
public class ExposureListDeserializer implements KafkaRecordDeserializationSchema<ExposureList> {
    private static final long serialVersionUID = 1L;
    private transient GenericDatumReader<GenericRecord> reader;
    private transient BinaryDecoder decoder;
    private transient GenericRecord reused;

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<ExposureList> out) throws IOException {
        out.collect(decode(record.value()));
    }

    ExposureList decode(byte[] value) throws IOException {
        if (reader == null) {
            reader = new GenericDatumReader<>(Contract.avroSchema(Contract.SEARCH_EXPOSURES));
        }
        decoder = DecoderFactory.get().binaryDecoder(value, decoder);
        reused = reader.read(reused, decoder);
        ExposureList list = new ExposureList();
        Object destination = reused.get("destination");
        list.destination = destination == null ? null : destination.toString();
        list.randomized = (Boolean) reused.get("ranking_randomized");
        list.closedAt = (Long) reused.get("closed_at");
        list.labellerWatermark = (Long) reused.get("labeller_watermark");
        List<?> items = (List<?>) reused.get("exposures");
        int n = items.size();
        list.hotelIds = new String[n];
        list.positions = new int[n];
        list.examined = new boolean[n];
        list.outcomes = new String[n];
        list.dwellSeconds = new double[n];
        for (int i = 0; i < n; i++) {
            GenericRecord item = (GenericRecord) items.get(i);
            list.hotelIds[i] = item.get("hotel_id").toString();
            list.positions[i] = (Integer) item.get("position");
            list.examined[i] = (Boolean) item.get("examined");
            Object outcome = item.get("outcome");
            list.outcomes[i] = outcome == null ? null : outcome.toString().intern();
            Double dwell = (Double) item.get("dwell_seconds");
            list.dwellSeconds[i] = dwell == null ? Double.NaN : dwell;
        }
        return list;
    }

    @Override
    public TypeInformation<ExposureList> getProducedType() {
        return TypeInformation.of(ExposureList.class);
    }
}
