package io.rankfeed.flink;

import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import org.apache.flink.metrics.Counter;

/**
 * When a click becomes a label. A click is a quick-back (label −1) when the next action of its
 * session comes strictly less than T after it and is a back, search, impression or click — but not
 * a click on the same hotel of the same list, which is continued interest (comparing deals for one
 * hotel), counted in {@code clicks_repeated}; exactly at T or later it is a click (+1). Without a next action by click + T (the watermark passed it),
 * it is a click whose dwell is not known yet. A book is labelled at once (+2).
 */
final class ClickDecisions {
    private static final Set<String> QUICK_BACK_NEXT_ACTIONS = Set.of("back", "search", "impression", "click");

    private final LabellingConfig config;
    private final OutputEncoder encoder;
    private final LabellingMetrics metrics;

    ClickDecisions(LabellingConfig config, OutputEncoder encoder, LabellingMetrics metrics) {
        this.config = config;
        this.encoder = encoder;
        this.metrics = metrics;
    }

    /** The deadline of the open click's decision, or {@link Long#MAX_VALUE} when none is waiting. */
    long deadline(LabellingSession session) {
        LabellingSession.OpenClick click = session.openClick;
        return click == null || click.decided ? Long.MAX_VALUE : click.time + config.quickBackThresholdMs;
    }

    void open(LabellingSession session, Action action) {
        LabellingSession.OpenClick click = LabellingSession.OpenClick.of(session, action);
        session.openClick = click;
        ResultList.Outcome outcome = session.outcome(click.searchId, click.hotelId);
        if (outcome != null) {
            outcome.clicked = true;
            // The example carries the dwell of the hotel's last click: unknown until its next action.
            outcome.dwellSeconds = null;
        }
    }

    /** The action after the open click arrived: its dwell is known; decide if not decided yet. */
    void next(LabellingSession session, Action next, Consumer<Output> out) {
        LabellingSession.OpenClick click = session.openClick;
        if (click == null) {
            return;
        }
        long nextAt = next.time;
        String nextType = next.type;
        boolean repeated = "click".equals(nextType)
                && Objects.equals(next.hotelId, click.hotelId)
                && (next.searchId == null || Objects.equals(next.searchId, click.searchId));
        if (repeated) {
            metrics.repeatedClicks.inc();
        }
        if (!click.decided && nextAt - click.time > config.quickBackThresholdMs) {
            decideWithoutDwell(session, out);
        }
        long dwellMs = nextAt - click.time;
        double dwellSeconds = dwellMs / 1000.0;
        ResultList.Outcome outcome = session.outcome(click.searchId, click.hotelId);
        if (outcome != null) {
            outcome.dwellSeconds = dwellSeconds;
        }
        if (!click.decided) {
            boolean quickBack =
                    dwellMs < config.quickBackThresholdMs && QUICK_BACK_NEXT_ACTIONS.contains(nextType) && !repeated;
            emit(session, click, quickBack, dwellSeconds, out);
        }
        session.openClick = null;
    }

    /** The watermark passed click + T with no next action: a click; its dwell is not known yet. */
    void decideWithoutDwell(LabellingSession session, Consumer<Output> out) {
        LabellingSession.OpenClick click = session.openClick;
        if (click != null && !click.decided) {
            emit(session, click, false, null, out);
        }
    }

    void book(LabellingSession session, Action action, Consumer<Output> out) {
        ResultList.Outcome outcome = session.outcome(action.searchId, action.hotelId);
        if (outcome != null) {
            outcome.booked = true;
        }
        metrics.books.inc();
        LabellingSession.OpenClick book = LabellingSession.OpenClick.of(session, action);
        out.accept(encoder.feedback(session, book, "book", config.labels.book, null, randomized(session, book)));
    }

    private void emit(
            LabellingSession session,
            LabellingSession.OpenClick click,
            boolean quickBack,
            Double dwellSeconds,
            Consumer<Output> out) {
        click.decided = true;
        Counter counter = quickBack ? metrics.quickBacks : metrics.clicks;
        counter.inc();
        if (quickBack) {
            session.quickBacks++;
        } else {
            ResultList.Outcome outcome = session.outcome(click.searchId, click.hotelId);
            if (outcome != null) {
                outcome.kept = true;
            }
        }
        String kind = quickBack ? "quick_back" : "click";
        int label = quickBack ? config.labels.quickBack : config.labels.click;
        out.accept(encoder.feedback(session, click, kind, label, dwellSeconds, randomized(session, click)));
    }

    private static Boolean randomized(LabellingSession session, LabellingSession.OpenClick click) {
        ResultList list = session.resultList(click.searchId);
        return list == null ? null : list.randomized;
    }
}
