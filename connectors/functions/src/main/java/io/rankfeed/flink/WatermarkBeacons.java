package io.rankfeed.flink;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;

/**
 * Carries the labeller's watermark to the features job through Kafka, which does not carry
 * watermarks: after each watermark (at most every {@link #MIN_INTERVAL_MS} of wall-clock time, and
 * always for the last one) it writes a beacon to every partition of search-exposures — a record
 * with no exposures, empty ids and {@code labeller_watermark} = the watermark. The labeller has
 * fired every timer up to it, so every exposures record written later closes after it; without
 * beacons the features job's watermark would stop at the last session that closed, and its last
 * features and θ window would wait for new traffic.
 *
 * <p>A watermark that arrives within the interval is written by a processing-time timer at the
 * interval's end, so the last watermark before a quiet period is never held back.
 *
 * <p>Chained right after the labeller; its own elements pass through untouched.
 */
public class WatermarkBeacons extends AbstractStreamOperator<Output> implements OneInputStreamOperator<Output, Output> {
    private static final long serialVersionUID = 1L;
    /** Beacons are addressed to partitions 0..MAX_PARTITIONS-1; the sink drops those a topic lacks. */
    static final int MAX_PARTITIONS = 64;
    static final long MIN_INTERVAL_MS = 200;

    private transient OutputEncoder encoder;
    private transient long written;
    private transient long latest;
    private transient long writtenAtMs;
    private transient boolean timerPending;

    @Override
    public void open() throws Exception {
        super.open();
        encoder = new OutputEncoder();
        written = Long.MIN_VALUE;
        latest = Long.MIN_VALUE;
    }

    @Override
    public void processElement(StreamRecord<Output> element) {
        output.collect(element);
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        latest = Math.max(latest, mark.getTimestamp());
        long now = getProcessingTimeService().getCurrentProcessingTime();
        if (now - writtenAtMs >= MIN_INTERVAL_MS) {
            writeBeacon(now);
        } else if (!timerPending) {
            timerPending = true;
            getProcessingTimeService().registerTimer(writtenAtMs + MIN_INTERVAL_MS, time -> {
                timerPending = false;
                writeBeacon(time);
            });
        }
        super.processWatermark(mark);
    }

    /** A beacon for the latest watermark, unless one was written for it already. */
    private void writeBeacon(long nowMs) {
        if (latest <= written) {
            return;
        }
        byte[] beacon = encoder.beacon(latest);
        for (int partition = 0; partition < MAX_PARTITIONS; partition++) {
            output.collect(new StreamRecord<>(new Output(Output.Sink.EXPOSURES, partition, beacon)));
        }
        written = latest;
        writtenAtMs = nowMs;
    }
}
