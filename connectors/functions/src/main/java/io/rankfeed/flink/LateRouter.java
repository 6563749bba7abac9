package io.rankfeed.flink;

import java.time.Instant;
import java.util.function.Consumer;

/**
 * The labeller's first step for each record: actions at or behind the labeller's watermark go to the
 * late topic (their session was processed past that time already), and bytes whose leading fields
 * do not decode go to the dead-letter topic, both with the reason and the raw bytes. A heartbeat
 * behind the watermark is dropped and counted ({@code late_heartbeats}): several gateways tick side
 * by side. Everything else is the labeller's.
 *
 * <p>It runs inside the keyed labeller, not before the keyBy, for two reasons: the watermark that
 * matters is the labeller's own (after the exchange it is the minimum over the sources), and the
 * rejected records then leave through the same chained sink as every other output, so nothing
 * but the raw actions crosses the network.
 */
final class LateRouter {
    private static final String HEARTBEAT = "heartbeat";

    private final long watermarkDelayMs;
    private final ActionDecoder decoder;
    private final OutputEncoder encoder;
    private final LabellingMetrics metrics;

    LateRouter(long watermarkDelayMs, ActionDecoder decoder, OutputEncoder encoder, LabellingMetrics metrics) {
        this.watermarkDelayMs = watermarkDelayMs;
        this.decoder = decoder;
        this.encoder = encoder;
        this.metrics = metrics;
    }

    /**
     * Whether {@code raw} is rejected (written to {@code out}) or dropped at {@code watermark}; false when it
     * is on time and readable, for the labeller to take.
     */
    boolean reject(RawAction raw, long watermark, Consumer<Output> out) {
        boolean behind = raw.sessionId == null || raw.eventTime <= watermark;
        if (!behind) {
            return false;
        }
        ActionDecoder.Decoded decoded;
        try {
            decoded = decoder.decodeAny(raw.value);
        } catch (ActionDecoder.InvalidAction invalid) {
            metrics.poison.inc();
            out.accept(encoder.rejected(Output.Sink.DLQ, invalid.getMessage(), raw, false));
            return true;
        }
        if (HEARTBEAT.equals(decoded.record.get("action_type").toString())) {
            // A tick behind the watermark moves nothing and is no one's action: counted, not kept.
            metrics.lateHeartbeats.inc();
            return true;
        }
        metrics.late.inc();
        String reason = "event time " + Instant.ofEpochMilli(raw.eventTime) + " is not after the watermark "
                + Instant.ofEpochMilli(watermark) + " (" + watermarkDelayMs / 1000.0
                + " s out-of-orderness and allowed lateness): its session was processed past that time already";
        out.accept(encoder.rejected(Output.Sink.LATE, reason, raw, true));
        return true;
    }
}
