package io.rankfeed.flink;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * The features job's watermark follows the labelling job's, which every search-exposures record
 * carries ({@code labeller_watermark}; beacons carry nothing else): the largest one seen minus the
 * configured delay, as the SQL source's {@code WATERMARK FOR closed_at AS labeller_watermark - delay}
 * did. Records close after the watermark they carry, so none is late here. Event time is
 * {@code closed_at}.
 */
final class LabellerWatermarks implements WatermarkGenerator<ExposureList> {
    private final long delayMs;
    private long max = Long.MIN_VALUE;

    LabellerWatermarks(long delayMs) {
        this.delayMs = delayMs;
    }

    static WatermarkStrategy<ExposureList> strategy(FeaturesConfig config) {
        long delay = config.watermarkDelayMs;
        return WatermarkStrategy.<ExposureList>forGenerator(context -> new LabellerWatermarks(delay))
                .withTimestampAssigner((list, previous) -> list.closedAt)
                .withIdleness(Duration.ofMillis(config.sourceIdleTimeoutMs));
    }

    @Override
    public void onEvent(ExposureList list, long eventTimestamp, WatermarkOutput output) {
        if (list.labellerWatermark != null) {
            max = Math.max(max, list.labellerWatermark - delayMs);
        }
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        if (max != Long.MIN_VALUE) {
            output.emitWatermark(new Watermark(max));
        }
    }
}
