package io.rankfeed.flink;

import java.util.function.Consumer;

/**
 * Applies a session's actions in event-time order as the watermark releases them: sessions split
 * by the gap, clicks decided ({@link ClickDecisions}), result lists collected, and at the close
 * the LTR examples, exposures and the session summary ({@link SearchExamples}).
 */
final class SessionLabelling {
    private final LabellingConfig config;
    private final OutputEncoder encoder;
    private final LabellingMetrics metrics;
    private final ClickDecisions clicks;
    private final SearchExamples examples;

    SessionLabelling(LabellingConfig config, OutputEncoder encoder, LabellingMetrics metrics) {
        this.config = config;
        this.encoder = encoder;
        this.metrics = metrics;
        this.clicks = new ClickDecisions(config, encoder, metrics);
        this.examples = new SearchExamples(config);
    }

    /**
     * Everything due at {@code watermark}: pending actions in order, the open click, the session's
     * close. {@code previousWatermark} is the watermark of the step before (see {@code
     * labeller_watermark} in search_exposures.avsc), or {@link Long#MIN_VALUE} when not known.
     */
    void advance(LabellingSession session, long watermark, long previousWatermark, Consumer<Output> out) {
        for (Action action : session.pending.pollDue(watermark)) {
            apply(session, action, previousWatermark, out);
        }
        if (clicks.deadline(session) <= watermark) {
            clicks.decideWithoutDwell(session, out);
        }
        if (session.open && session.end + config.sessionGapMs <= watermark) {
            close(session, previousWatermark, out);
        }
    }

    /** The next event time at which {@link #advance} has work; {@link Long#MAX_VALUE} when none. */
    long nextDeadline(LabellingSession session) {
        long next = Math.min(session.pending.earliest(), clicks.deadline(session));
        return session.open ? Math.min(next, session.end + config.sessionGapMs) : next;
    }

    private void apply(LabellingSession session, Action action, long previousWatermark, Consumer<Output> out) {
        long at = action.time;
        if (session.open && at - session.end >= config.sessionGapMs) {
            close(session, previousWatermark, out);
        }
        if (!session.open) {
            start(session, action);
        }
        // A close above reset the ids to the pending ones; this action (of the new session) stays known.
        session.seen.add(action.eventId);
        clicks.next(session, action, out);
        session.actions++;
        session.end = at;
        if (session.device == null) {
            session.device = action.device;
        }
        switch (action.type) {
            case "search":
                session.searches++;
                addShown(session, action);
                break;
            case "impression":
                addShown(session, action);
                break;
            case "scroll":
                ResultList scrolled = session.resultList(action.searchId);
                if (scrolled != null && action.scrollDepth != null) {
                    scrolled.scrollDepth = scrolled.scrollDepth == null
                            ? action.scrollDepth
                            : Math.max(scrolled.scrollDepth, action.scrollDepth);
                }
                break;
            case "click":
                session.clicks++;
                clicks.open(session, action);
                break;
            case "book":
                session.books++;
                clicks.book(session, action, out);
                break;
            default: // back, rate: they count and end dwell, nothing else
        }
        out.accept(encoder.clean(action));
    }

    private static void start(LabellingSession session, Action action) {
        session.open = true;
        session.sessionId = action.sessionId;
        session.userId = action.userId;
        session.device = action.device;
        session.start = action.time;
        session.end = action.time;
        session.actions = 0;
        session.searches = 0;
        session.clicks = 0;
        session.books = 0;
        session.quickBacks = 0;
        session.clearLists();
        session.openClick = null;
    }

    /**
     * A search or impressions: a new list, or more of the list its search_id names. Idempotent per
     * (search, position): a list reported again (server-side rendering, a back to the list, a retry
     * with a new event_id) adds nothing; the first report of a position wins, and each repeat is
     * counted in {@code impressions_repeated}.
     */
    private void addShown(LabellingSession session, Action action) {
        String key = action.searchId != null ? action.searchId : action.eventId;
        ResultList list = session.resultList(key);
        if (list == null || action.searchId == null) {
            list = new ResultList();
            list.searchId = key;
            list.time = action.time;
            session.addList(list);
        }
        if (list.query == null) {
            list.query = action.query;
        }
        if (action.randomized != null) {
            list.randomized = action.randomized;
        }
        for (Action.Shown shown : action.shown) {
            if (list.hasPosition(shown.position)) {
                metrics.repeatedImpressions.inc();
            } else {
                list.shown.add(shown);
            }
        }
    }

    /** Ends the session at its last action + the gap: labels its result lists, summarizes it. */
    void close(LabellingSession session, long previousWatermark, Consumer<Output> out) {
        long closedAt = session.end + config.sessionGapMs;
        clicks.decideWithoutDwell(session, out);
        session.openClick = null;
        for (ResultList list : session.resultLists()) {
            if (list.shown.isEmpty()) {
                continue;
            }
            int depth = examples.examinedDepth(list);
            out.accept(encoder.exposures(session, list, depth, closedAt, previousWatermark));
            for (SearchExamples.Example example : examples.examples(list, depth)) {
                if ("ignore".equals(example.kind)) {
                    metrics.ignores.inc();
                }
                out.accept(encoder.ltr(session, list, example));
            }
        }
        metrics.sessions.inc();
        out.accept(encoder.summary(session));
        session.open = false;
        session.clearLists();
        // Ids of actions not processed yet stay, for dedup; the closed session's can only come back late.
        session.seen.clear();
        session.seen.addAll(session.pending.eventIds());
    }
}
