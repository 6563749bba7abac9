package io.rankfeed.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;

/** The labeller's counters in the Flink web UI and REST API (names as the README lists them). */
final class LabellingMetrics {
    final Counter poison;
    final Counter late;
    final Counter duplicates;
    final Counter clicks;
    final Counter books;
    final Counter quickBacks;
    final Counter ignores;
    final Counter sessions;
    final Counter repeatedImpressions;
    final Counter repeatedClicks;
    final Counter upgraded;
    final Counter lateHeartbeats;

    LabellingMetrics(MetricGroup group) {
        poison = group.counter("poison_messages");
        late = group.counter("late_actions");
        duplicates = group.counter("duplicates_dropped");
        clicks = group.counter("labels_click");
        books = group.counter("labels_book");
        quickBacks = group.counter("labels_quick_back");
        ignores = group.counter("labels_ignore");
        sessions = group.counter("sessions_closed");
        repeatedImpressions = group.counter("impressions_repeated");
        repeatedClicks = group.counter("clicks_repeated");
        upgraded = group.counter("actions_upgraded");
        lateHeartbeats = group.counter("late_heartbeats");
        group.gauge("quick_back_rate", (Gauge<Double>) () -> {
            long decided = clicks.getCount() + quickBacks.getCount();
            return decided == 0 ? 0.0 : (double) quickBacks.getCount() / decided;
        });
    }
}
