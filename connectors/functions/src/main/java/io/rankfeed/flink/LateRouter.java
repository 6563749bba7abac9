package io.rankfeed.flink;

import java.time.Instant;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Before the labeller: actions at or behind the watermark go to the late topic (their session was
 * processed past that time already), and bytes whose leading fields do not decode go to the
 * dead-letter topic, both with the reason and the raw bytes. A heartbeat behind the watermark is
 * dropped and counted ({@code late_heartbeats}): several gateways tick side by side. Everything else
 * passes on.
 */
public class LateRouter extends ProcessFunction<RawAction, RawAction> {
    private static final long serialVersionUID = 1L;
    private static final String HEARTBEAT = "heartbeat";
    /** Late and dead-letter records, encoded for the job's one Kafka sink. */
    public static final OutputTag<Output> REJECTED = new OutputTag<>("rejected") {
        private static final long serialVersionUID = 1L;
    };

    private final long watermarkDelayMs;
    private transient ActionDecoder decoder;
    private transient OutputEncoder encoder;
    private transient LabellingMetrics metrics;

    public LateRouter(long watermarkDelayMs) {
        this.watermarkDelayMs = watermarkDelayMs;
    }

    @Override
    public void open(OpenContext context) {
        decoder = new ActionDecoder();
        encoder = new OutputEncoder();
        metrics = new LabellingMetrics(getRuntimeContext().getMetricGroup());
    }

    @Override
    public void processElement(RawAction raw, Context ctx, Collector<RawAction> out) {
        long watermark = ctx.timerService().currentWatermark();
        boolean behind = raw.sessionId == null || raw.eventTime <= watermark;
        if (!behind) {
            out.collect(raw);
            return;
        }
        ActionDecoder.Decoded decoded;
        try {
            decoded = decoder.decodeAny(raw.value);
        } catch (ActionDecoder.InvalidAction invalid) {
            metrics.poison.inc();
            ctx.output(REJECTED, encoder.rejected(Output.Sink.DLQ, invalid.getMessage(), raw, false));
            return;
        }
        if (HEARTBEAT.equals(decoded.record.get("action_type").toString())) {
            // A tick behind the watermark moves nothing and is no one's action: counted, not kept.
            metrics.lateHeartbeats.inc();
            return;
        }
        metrics.late.inc();
        String reason = "event time " + Instant.ofEpochMilli(raw.eventTime) + " is not after the watermark "
                + Instant.ofEpochMilli(watermark) + " (" + watermarkDelayMs / 1000.0
                + " s out-of-orderness and allowed lateness): its session was processed past that time already";
        ctx.output(REJECTED, encoder.rejected(Output.Sink.LATE, reason, raw, true));
    }

}
