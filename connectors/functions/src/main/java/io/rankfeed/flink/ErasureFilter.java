package io.rankfeed.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.BroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Drops the actions of erased users before they reach the labeller: the users are the keys of the compacted
 * erasure-requests topic (the gateway's pseudonyms, written by {@code rankfeed forget}), broadcast to every
 * subtask and kept in broadcast state, so a restored job still knows them. An action read after its user's
 * request reached this operator (each request read is counted in {@code erasureRequestsReceived}, since the
 * task started) is counted in {@code erasedActionsDropped} and goes nowhere: not to the clean
 * topic, the labels, the late topic or the dead letters. Poison (no readable user) passes on to the labeller.
 */
final class ErasureFilter extends BroadcastProcessFunction<RawAction, String, RawAction> {
    private static final long serialVersionUID = 1L;
    /** The erased users (pseudonyms); the value is unused. */
    static final MapStateDescriptor<String, Boolean> ERASED = new MapStateDescriptor<>(
            "erased-users", BasicTypeInfo.STRING_TYPE_INFO, BasicTypeInfo.BOOLEAN_TYPE_INFO);

    private transient Counter dropped;
    private transient Counter received;

    @Override
    public void open(org.apache.flink.api.common.functions.OpenContext context) {
        dropped = getRuntimeContext().getMetricGroup().counter("erasedActionsDropped");
        received = getRuntimeContext().getMetricGroup().counter("erasureRequestsReceived");
    }

    @Override
    public void processElement(RawAction action, ReadOnlyContext context, Collector<RawAction> out) throws Exception {
        String user = userId(action);
        if (user != null && context.getBroadcastState(ERASED).contains(user)) {
            dropped.inc();
            return;
        }
        out.collect(action);
    }

    @Override
    public void processBroadcastElement(String user, Context context, Collector<RawAction> out) throws Exception {
        BroadcastState<String, Boolean> erased = context.getBroadcastState(ERASED);
        erased.put(user, Boolean.TRUE);
        received.inc();
    }

    /** The user id of the labeller's key (user_id, separator, session_id), null for poison. */
    static String userId(RawAction action) {
        if (action.sessionKey == null) {
            return null;
        }
        int separator = action.sessionKey.indexOf(RawAction.KEY_SEPARATOR);
        return separator < 0 ? null : action.sessionKey.substring(0, separator);
    }

    /** The erasure-requests topic as its keys (the users); records without a key are skipped. */
    static final class Requests implements KafkaRecordDeserializationSchema<String> {
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
    }

    /**
     * The requests carry no event time: their input is always idle, so the filter's watermark is the actions'
     * alone. (A two-input operator forwards the smaller watermark of its active inputs; an end-of-time watermark
     * here would be forwarded as soon as the actions' partitions went idle, and make every later action late.)
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
