package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import org.apache.avro.generic.GenericRecord;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.types.Row;

/**
 * The feedback job's one stateful pass, keyed by session: dedup, ordering, sessions, dwell,
 * quick-back, ignore negatives and labels.
 *
 * <p>Called from SQL as {@code SessionLabeler(input => TABLE actions PARTITION BY session_id,
 * on_time => DESCRIPTOR(event_time))}. Doing all of it in one keyed operator is what makes the job
 * fast: every separate SQL stage (dedup, MATCH_RECOGNIZE, session window) keys and stores the
 * stream again, and side by side they measured at a quarter of a single pass.
 *
 * <p>Events are buffered and processed in event-time order when the watermark passes them, so the
 * output is deterministic whatever the arrival order, and replay gives the same labels. Flink's PTF
 * runtime drops rows at or behind the watermark before {@code eval} sees them, so the job routes
 * those to the late topic upstream (SQL, {@code CURRENT_WATERMARK}); allowed lateness is part of
 * the watermark delay.
 *
 * <p>Bytes that do not decode against the contract are emitted as {@code dlq} rows with the reason.
 *
 * <p>Output rows carry a {@code kind}: {@code event} (a clean, deduplicated action), {@code dlq},
 * {@code feedback}, {@code ltr} and {@code session}; the job splits them into sinks. Their row
 * types come from the packaged .avsc files.
 */
@DataTypeHint("ROW<kind STRING>") // placeholder for extraction; getTypeInference sets the real type
public class SessionLabeler extends ProcessTableFunction<Row> {
    private static final long serialVersionUID = 1L;

    public static final String PARAM_PREFIX = Examination.PREFIX;
    private static final String HEARTBEAT = "heartbeat";
    private static final String CLOSE_TIMER = "close";
    private static final Set<String> QUICK_BACK_NEXT_ACTIONS = Set.of("back", "search", "impression", "click");

    // Configuration, read from the job parameters (onTimer gets no call arguments).
    private long quickBackThresholdMs;
    private long sessionGapMs;
    private int noClickTopK;
    private int clickLabel;
    private int bookLabel;
    private int ignoreLabel;
    private int quickBackLabel;
    // Propensity table (θ_k by position, θ_1 first) for IPS weights; without one, weights stay 1.0.
    private Examination examination;
    private double maxWeight;
    private String propensityVersion;

    private transient ActionDecoder decoder;
    private transient Counter poison;
    private transient Counter duplicates;
    private transient Counter clicks;
    private transient Counter books;
    private transient Counter quickBacks;
    private transient Counter ignores;
    private transient Counter sessions;

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return Ptf.withOutput(super.getTypeInference(typeFactory), outputType());
    }

    static DataType outputType() {
        return DataTypes.ROW(
                DataTypes.FIELD("kind", DataTypes.STRING()),
                DataTypes.FIELD("event_id", DataTypes.STRING()),
                DataTypes.FIELD("event_raw", DataTypes.BYTES()),
                DataTypes.FIELD("reason", DataTypes.STRING()),
                DataTypes.FIELD("source_partition", DataTypes.INT()),
                DataTypes.FIELD("source_offset", DataTypes.BIGINT()),
                DataTypes.FIELD("event", Contract.dataType(Contract.USER_ACTION).nullable()),
                DataTypes.FIELD("feedback", Contract.dataType(Contract.FEEDBACK_EVENT).nullable()),
                DataTypes.FIELD("ltr", Contract.dataType(Contract.LTR_EXAMPLE).nullable()),
                DataTypes.FIELD("summary", Contract.dataType(Contract.SESSION_SUMMARY).nullable()),
                // Internal wiring to the hotel features, not part of the contract.
                DataTypes.FIELD("destination", DataTypes.STRING()),
                // Whether the list was shuffled on purpose: the propensity estimator's randomized path.
                DataTypes.FIELD("ranking_randomized", DataTypes.BOOLEAN()),
                DataTypes.FIELD("exposures", DataTypes.ARRAY(exposureType().notNull())),
                DataTypes.FIELD("exposure_time", DataTypes.TIMESTAMP(3)));
    }

    @Override
    public void open(FunctionContext context) {
        quickBackThresholdMs = Long.parseLong(context.getJobParameter(PARAM_PREFIX + "quick-back-threshold-ms", "10000"));
        sessionGapMs = Long.parseLong(context.getJobParameter(PARAM_PREFIX + "session-gap-ms", "1800000"));
        noClickTopK = Integer.parseInt(context.getJobParameter(PARAM_PREFIX + "no-click-top-k", "0"));
        clickLabel = Integer.parseInt(context.getJobParameter(PARAM_PREFIX + "click", "1"));
        bookLabel = Integer.parseInt(context.getJobParameter(PARAM_PREFIX + "book", "2"));
        ignoreLabel = Integer.parseInt(context.getJobParameter(PARAM_PREFIX + "ignore", "0"));
        quickBackLabel = Integer.parseInt(context.getJobParameter(PARAM_PREFIX + "quick-back", "-1"));
        propensityVersion = context.getJobParameter(PARAM_PREFIX + "propensity-version", null);
        examination = Examination.fromJobParameters(context, 1.0);
        if (propensityVersion != null) {
            maxWeight = Double.parseDouble(context.getJobParameter(PARAM_PREFIX + "propensity-max-weight", "10"));
        }
        decoder = new ActionDecoder();
        MetricGroup metrics = context.getMetricGroup();
        poison = metrics.counter("poison_messages");
        duplicates = metrics.counter("duplicates_dropped");
        clicks = metrics.counter("labels_click");
        books = metrics.counter("labels_book");
        quickBacks = metrics.counter("labels_quick_back");
        ignores = metrics.counter("labels_ignore");
        sessions = metrics.counter("sessions_closed");
        metrics.gauge("quick_back_rate", (Gauge<Double>) () -> {
            long decided = clicks.getCount() + quickBacks.getCount();
            return decided == 0 ? 0.0 : (double) quickBacks.getCount() / decided;
        });
    }

    // ------------------------------------------------------------------ state

    /** An action received but not processed yet (its slot is after the watermark). */
    public static class Pending {
        public String eventId;
        public long time;
        public byte[] raw;
    }

    public static class Shown {
        public String hotelId;
        public int position;
        public Double price;
        public Double rating;
    }

    /** What happened to one hotel within one result list. */
    public static class Outcome {
        public String hotelId;
        public boolean clicked;
        public boolean kept; // clicked at least once without a quick-back
        public boolean booked;
        public Double dwellSeconds;
    }

    public static class Search {
        public String searchId;
        public long time;
        public String query;
        public Boolean randomized;
        public Integer scrollDepth;
        public Shown[] shown = new Shown[0];
        public Outcome[] outcomes = new Outcome[0];
    }

    /** The last click, waiting for the next action (dwell) and for its quick-back decision. */
    public static class OpenClick {
        public String eventId;
        public String searchId;
        public String hotelId;
        public Integer position;
        public long time;
        public Double clientDuration;
        public boolean decided;
    }

    /**
     * What Flink keeps per session: the {@link Session} encoded by {@link SessionCodec}. As a
     * structured type with nested arrays, Flink converted it field by field on every call, which
     * profiled at a third of the job's time; one byte array costs a copy.
     */
    public static class SessionState {
        public byte[] encoded;
    }

    /** A session as the labelling logic sees it; loaded from and stored into {@link SessionState}. */
    public static class Session {
        public long closeTimer;
        public boolean open;
        public String sessionId;
        public String userId;
        public String device;
        public long start;
        public long end;
        public int actions;
        public int searches;
        public int clicks;
        public int books;
        public int quickBacks;
        public Pending[] pending = new Pending[0];
        public String[] seen = new String[0];
        public Search[] resultLists = new Search[0];
        public OpenClick openClick;
    }

    // ------------------------------------------------------------------ entry points

    public void eval(
            Context ctx,
            @StateHint(ttl = "1 d") SessionState stored,
            @ArgumentHint({ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME}) Row input) {
        Session state = SessionCodec.read(stored.encoded);
        process(ctx, state, input);
        store(ctx, stored, state);
    }

    /** Write the session back, or drop the key's state once nothing is open or pending. */
    private static void store(Context ctx, SessionState stored, Session state) {
        if (!state.open && state.pending.length == 0 && state.closeTimer == 0) {
            ctx.clearAllState();
        } else {
            stored.encoded = SessionCodec.write(state);
        }
    }

    private void process(Context ctx, Session state, Row input) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long eventTime = time.time();
        byte[] raw = input.getFieldAs("raw_value");
        GenericRecord action;
        try {
            action = decoder.decode(raw);
        } catch (ActionDecoder.InvalidAction invalid) {
            poison.inc();
            collect(Rows.named(
                    "kind", "dlq",
                    "event_raw", raw,
                    "reason", invalid.getMessage(),
                    "source_partition", input.getFieldAs("kafka_partition"),
                    "source_offset", input.getFieldAs("kafka_offset")));
            return;
        }
        if (HEARTBEAT.equals(action.get("action_type").toString())) {
            // A heartbeat's only job was to move the watermark, which happened upstream.
            return;
        }
        String eventId = action.get("event_id").toString();
        state.sessionId = action.get("session_id").toString();
        if (Arrays.asList(state.seen).contains(eventId)) {
            duplicates.inc();
            // Keep the first by event time: an earlier copy replaces a still-pending later one.
            for (Pending pending : state.pending) {
                if (pending.eventId.equals(eventId) && eventTime < pending.time) {
                    pending.time = eventTime;
                    pending.raw = raw;
                    time.registerOnTime(eventTime);
                }
            }
            return;
        }
        Pending pending = new Pending();
        pending.eventId = eventId;
        pending.time = eventTime;
        pending.raw = raw;
        state.pending = append(state.pending, pending);
        state.seen = append(state.seen, eventId);
        // Every timer this event can need is registered here: timers registered inside onTimer
        // do not fire in Flink 2.2's PTF runtime (measured), so onTimer only consumes them.
        time.registerOnTime(eventTime);
        if (eventTime + sessionGapMs > state.closeTimer) {
            // One close timer per session, moved forward as later actions arrive.
            state.closeTimer = eventTime + sessionGapMs;
            time.registerOnTime(CLOSE_TIMER, state.closeTimer);
        }
        if ("click".equals(action.get("action_type").toString())) {
            time.registerOnTime(eventTime + quickBackThresholdMs);
        }
    }

    public void onTimer(OnTimerContext ctx, SessionState stored) {
        Session state = SessionCodec.read(stored.encoded);
        fire(ctx, state);
        if (!state.open && state.pending.length == 0) {
            state.closeTimer = 0;
        }
        store(ctx, stored, state);
    }

    private void fire(OnTimerContext ctx, Session state) {
        TimeContext<Long> time = ctx.timeContext(Long.class);
        long now = time.time();
        List<Pending> due = new ArrayList<>();
        List<Pending> later = new ArrayList<>();
        for (Pending pending : state.pending) {
            (pending.time <= now ? due : later).add(pending);
        }
        due.sort(Comparator.comparingLong((Pending p) -> p.time).thenComparing(p -> p.eventId));
        state.pending = later.toArray(new Pending[0]);
        for (Pending pending : due) {
            apply(state, pending);
        }
        OpenClick click = state.openClick;
        if (click != null && !click.decided && click.time + quickBackThresholdMs <= now) {
            decideClickWithoutDwell(state);
        }
        if (state.open && state.end + sessionGapMs <= now) {
            closeSession(state);
        }
    }

    // ------------------------------------------------------------------ processing in event-time order

    private void apply(Session state, Pending pending) {
        GenericRecord action = decode(pending.raw);
        long at = pending.time;
        if (state.open && at - state.end >= sessionGapMs) {
            closeSession(state);
        }
        if (!state.open) {
            startSession(state, action, at);
        }
        String type = action.get("action_type").toString();
        OpenClick click = state.openClick;
        if (click != null) {
            if (!click.decided && at - click.time > quickBackThresholdMs) {
                decideClickWithoutDwell(state);
            }
            finishClick(state, click, at, type);
        }
        state.actions++;
        state.end = at;
        if (state.device == null) {
            state.device = string(action, "device");
        }
        switch (type) {
            case "search":
                state.searches++;
                addShown(state, action, at, pending.eventId);
                break;
            case "impression":
                addShown(state, action, at, pending.eventId);
                break;
            case "scroll":
                Search scrolled = searchFor(state, string(action, "search_id"));
                Integer depth = (Integer) action.get("scroll_depth");
                if (scrolled != null && depth != null) {
                    scrolled.scrollDepth = scrolled.scrollDepth == null ? depth : Math.max(scrolled.scrollDepth, depth);
                }
                break;
            case "click":
                state.clicks++;
                openClick(state, action, pending.eventId, at);
                break;
            case "book":
                state.books++;
                book(state, action, pending.eventId, at);
                break;
            default: // back, rate: they count and end dwell, nothing else
        }
        collect(Rows.named(
                "kind", "event",
                "event_id", pending.eventId,
                "event_raw", pending.raw,
                "event", AvroRows.toRow(action)));
    }

    private void startSession(Session state, GenericRecord action, long at) {
        state.open = true;
        state.userId = string(action, "user_id");
        state.device = string(action, "device");
        state.start = at;
        state.end = at;
        state.actions = 0;
        state.searches = 0;
        state.clicks = 0;
        state.books = 0;
        state.quickBacks = 0;
        state.resultLists = new Search[0];
        state.openClick = null;
    }

    private void addShown(Session state, GenericRecord action, long at, String eventId) {
        String searchId = string(action, "search_id");
        String key = searchId != null ? searchId : eventId;
        Search search = searchFor(state, key);
        if (search == null || searchId == null) {
            search = new Search();
            search.searchId = key;
            search.time = at;
            state.resultLists = append(state.resultLists, search);
        }
        if (search.query == null) {
            search.query = string(action, "query");
        }
        Object randomized = action.get("ranking_randomized");
        if (randomized != null) {
            search.randomized = (Boolean) randomized;
        }
        Object impressions = action.get("impressions");
        if (impressions == null) {
            return;
        }
        List<Shown> shown = new ArrayList<>(Arrays.asList(search.shown));
        for (Object item : (List<?>) impressions) {
            GenericRecord impression = (GenericRecord) item;
            Shown entry = new Shown();
            entry.hotelId = impression.get("hotel_id").toString();
            entry.position = (Integer) impression.get("position");
            entry.price = (Double) impression.get("price");
            entry.rating = (Double) impression.get("rating");
            shown.add(entry);
        }
        search.shown = shown.toArray(new Shown[0]);
    }

    private void openClick(Session state, GenericRecord action, String eventId, long at) {
        OpenClick click = new OpenClick();
        click.eventId = eventId;
        click.searchId = string(action, "search_id");
        click.hotelId = string(action, "hotel_id");
        click.position = positionOf(state, click.searchId, click.hotelId, (Integer) action.get("position"));
        click.time = at;
        click.clientDuration = (Double) action.get("duration");
        state.openClick = click;
        Outcome outcome = outcomeFor(state, click.searchId, click.hotelId);
        if (outcome != null) {
            outcome.clicked = true;
        }
    }

    /** The next action after a click arrived: dwell is known; decide quick-back if not decided yet. */
    private void finishClick(Session state, OpenClick click, long nextAt, String nextType) {
        long dwellMs = nextAt - click.time;
        double dwellSeconds = dwellMs / 1000.0;
        Outcome outcome = outcomeFor(state, click.searchId, click.hotelId);
        if (outcome != null) {
            outcome.dwellSeconds = dwellSeconds;
        }
        if (!click.decided) {
            boolean quickBack = dwellMs < quickBackThresholdMs && QUICK_BACK_NEXT_ACTIONS.contains(nextType);
            emitClick(state, click, quickBack, dwellSeconds);
        }
        state.openClick = null;
    }

    /** The watermark passed click + T with no next action: not a quick-back; dwell is not known yet. */
    private void decideClickWithoutDwell(Session state) {
        emitClick(state, state.openClick, false, null);
        state.openClick.decided = true;
    }

    private void emitClick(Session state, OpenClick click, boolean quickBack, Double dwellSeconds) {
        click.decided = true;
        Outcome outcome = outcomeFor(state, click.searchId, click.hotelId);
        if (quickBack) {
            state.quickBacks++;
            quickBacks.inc();
        } else {
            clicks.inc();
            if (outcome != null) {
                outcome.kept = true;
            }
        }
        Search search = searchFor(state, click.searchId);
        collect(feedbackRow(
                state,
                click.eventId,
                click.searchId,
                click.hotelId,
                click.position,
                click.time,
                quickBack ? "quick_back" : "click",
                quickBack ? quickBackLabel : clickLabel,
                dwellSeconds,
                click.clientDuration,
                search == null ? null : search.randomized));
    }

    private void book(Session state, GenericRecord action, String eventId, long at) {
        String searchId = string(action, "search_id");
        String hotelId = string(action, "hotel_id");
        Outcome outcome = outcomeFor(state, searchId, hotelId);
        if (outcome != null) {
            outcome.booked = true;
        }
        books.inc();
        Search search = searchFor(state, searchId);
        collect(feedbackRow(
                state,
                eventId,
                searchId,
                hotelId,
                positionOf(state, searchId, hotelId, (Integer) action.get("position")),
                at,
                "book",
                bookLabel,
                null,
                (Double) action.get("duration"),
                search == null ? null : search.randomized));
    }

    // ------------------------------------------------------------------ session close: LTR examples and summary

    private void closeSession(Session state) {
        if (state.openClick != null && !state.openClick.decided) {
            decideClickWithoutDwell(state);
        }
        state.openClick = null;
        for (Search search : state.resultLists) {
            emitExamples(state, search);
        }
        sessions.inc();
        collect(Rows.named("kind", "session", "summary", Rows.named(
                        "session_id", state.sessionId,"user_id", state.userId,
                        "session_start", AvroRows.timestamp(state.start),
                        "session_end", AvroRows.timestamp(state.end),
                        "duration_seconds", (state.end - state.start) / 1000.0,
                        "actions", state.actions,
                        "searches", state.searches,
                        "clicks", state.clicks,
                        "books", state.books,
                        "quick_backs", state.quickBacks,
                        "device", state.device)));
        state.open = false;
        state.resultLists = new Search[0];
        // Ids of actions not processed yet stay, for dedup; the closed session's can only come back late.
        List<String> stillPending = new ArrayList<>();
        for (Pending pending : state.pending) {
            stillPending.add(pending.eventId);
        }
        state.seen = stillPending.toArray(new String[0]);
    }

    private void emitExamples(Session state, Search search) {
        if (search.shown.length == 0) {
            return;
        }
        int deepestInteraction = 0;
        for (Outcome outcome : search.outcomes) {
            if (outcome.clicked || outcome.booked) {
                Integer position = positionOf(state, search.searchId, outcome.hotelId, null);
                deepestInteraction = Math.max(deepestInteraction, position == null ? 0 : position);
            }
        }
        int examinedDepth;
        if (deepestInteraction > 0) {
            examinedDepth = Math.max(deepestInteraction, search.scrollDepth == null ? 0 : search.scrollDepth);
        } else if (noClickTopK > 0) {
            examinedDepth = noClickTopK;
        } else {
            examinedDepth = 0; // a search without clicks says little: no examples by default
        }
        collect(exposures(search, examinedDepth));
        if (examinedDepth == 0) {
            return;
        }
        Normalizer prices = new Normalizer(search.shown, true);
        Normalizer ratings = new Normalizer(search.shown, false);
        List<String> done = new ArrayList<>();
        Shown[] byPosition = search.shown.clone();
        Arrays.sort(byPosition, Comparator.comparingInt((Shown s) -> s.position));
        for (Shown shown : byPosition) {
            if (shown.position > examinedDepth || done.contains(shown.hotelId)) {
                continue;
            }
            done.add(shown.hotelId);
            Outcome outcome = findOutcome(search, shown.hotelId);
            String kind;
            int label;
            if (outcome != null && outcome.booked) {
                kind = "book";
                label = bookLabel;
            } else if (outcome != null && outcome.kept) {
                kind = "click";
                label = clickLabel;
            } else if (outcome != null && outcome.clicked) {
                kind = "quick_back";
                label = quickBackLabel;
            } else {
                kind = "ignore";
                label = ignoreLabel;
                ignores.inc();
            }
            collect(Rows.named("kind", "ltr", "ltr", Rows.named(
                        "session_id", state.sessionId,"search_id", search.searchId,
                        "hotel_id", shown.hotelId,
                        "user_id", state.userId,
                        "query", search.query,
                        "search_time", AvroRows.timestamp(search.time),
                        "label", label,
                        "label_kind", kind,
                        "position", shown.position,
                        "price", shown.price,
                        "rating", shown.rating,
                        "price_zscore", prices.zscore(shown.price),
                        "price_rank_pct", prices.rankPercentile(shown.price),
                        "rating_zscore", ratings.zscore(shown.rating),
                        "rating_rank_pct", ratings.rankPercentile(shown.rating),
                        "device", state.device,
                        "dwell_seconds", outcome == null ? null : outcome.dwellSeconds,
                        "ranking_randomized", search.randomized,
                        "session_searches", state.searches,
                        "session_clicks", state.clicks,
                        "ips_weight", ipsWeight(kind, shown.position),
                        "propensity", propensity(shown.position),
                        "propensity_version", propensityVersion)));
        }
    }

    /** θ of a 1-based position (positions past the table take its last value); null without a table. */
    private Double propensity(int position) {
        return examination.table == null ? null : examination.theta(position);
    }

    /** 1/θ_k, cut at the table's maximum, for examples whose label comes from a click; 1 for ignores. */
    private double ipsWeight(String kind, int position) {
        if (examination.table == null || "ignore".equals(kind)) {
            return 1.0;
        }
        return Math.min(1.0 / propensity(position), maxWeight);
    }

    /** Every hotel the list showed, whether it was examined and what happened to it: the hotel features' input. */
    private static Row exposures(Search search, int examinedDepth) {
        Row[] shown = new Row[search.shown.length];
        for (int i = 0; i < shown.length; i++) {
            Shown item = search.shown[i];
            Outcome outcome = findOutcome(search, item.hotelId);
            String result = null;
            if (outcome != null && outcome.booked) {
                result = "book";
            } else if (outcome != null && outcome.kept) {
                result = "click";
            } else if (outcome != null && outcome.clicked) {
                result = "quick_back";
            }
            shown[i] = Rows.named(
                    "hotel_id", item.hotelId,
                    "position", item.position,
                    "examined", item.position <= examinedDepth,
                    "outcome", result,
                    "dwell_seconds", outcome == null ? null : outcome.dwellSeconds);
        }
        return Rows.named(
                "kind", "exposures",
                "destination", search.query,
                "ranking_randomized", search.randomized,
                "exposures", shown,
                "exposure_time", AvroRows.timestamp(search.time));
    }

    static DataType exposureType() {
        return DataTypes.ROW(
                DataTypes.FIELD("hotel_id", DataTypes.STRING().notNull()),
                DataTypes.FIELD("position", DataTypes.INT().notNull()),
                DataTypes.FIELD("examined", DataTypes.BOOLEAN().notNull()),
                DataTypes.FIELD("outcome", DataTypes.STRING()),
                DataTypes.FIELD("dwell_seconds", DataTypes.DOUBLE()));
    }

    // ------------------------------------------------------------------ helpers

    private Row feedbackRow(
            Session state,
            String eventId,
            String searchId,
            String hotelId,
            Integer position,
            long at,
            String kind,
            int label,
            Double dwellSeconds,
            Double clientDuration,
            Boolean randomized) {
        return Rows.named("kind", "feedback", "event_id", eventId, "feedback", Rows.named(
                        "session_id", state.sessionId,"event_id", eventId,
                        "user_id", state.userId,
                        "search_id", searchId,
                        "hotel_id", hotelId == null ? "" : hotelId,
                        "position", position,
                        "event_time", AvroRows.timestamp(at),
                        "kind", kind,
                        "label", label,
                        "dwell_seconds", dwellSeconds,
                        "client_duration", clientDuration,
                        "device", state.device,
                        "ranking_randomized", randomized));
    }

    private GenericRecord decode(byte[] raw) {
        try {
            return decoder.decode(raw);
        } catch (ActionDecoder.InvalidAction invalid) {
            // eval() accepted these bytes; they cannot stop decoding later.
            throw new IllegalStateException("an accepted action no longer decodes: " + invalid.getMessage(), invalid);
        }
    }

    private static String string(GenericRecord record, String field) {
        Object value = record.get(field);
        return value == null ? null : value.toString();
    }

    private static Search searchFor(Session state, String searchId) {
        if (searchId == null) {
            return state.resultLists.length == 0 ? null : state.resultLists[state.resultLists.length - 1];
        }
        for (Search search : state.resultLists) {
            if (search.searchId.equals(searchId)) {
                return search;
            }
        }
        return null;
    }

    private static Outcome findOutcome(Search search, String hotelId) {
        for (Outcome outcome : search.outcomes) {
            if (outcome.hotelId.equals(hotelId)) {
                return outcome;
            }
        }
        return null;
    }

    /** The outcome of hotelId in searchId's list, created on first use; null when there is no such search. */
    private static Outcome outcomeFor(Session state, String searchId, String hotelId) {
        Search search = searchFor(state, searchId);
        if (search == null || hotelId == null) {
            return null;
        }
        Outcome outcome = findOutcome(search, hotelId);
        if (outcome == null) {
            outcome = new Outcome();
            outcome.hotelId = hotelId;
            search.outcomes = append(search.outcomes, outcome);
        }
        return outcome;
    }

    /** Where hotelId was shown in searchId's list; the action's own position when the list is unknown. */
    private static Integer positionOf(Session state, String searchId, String hotelId, Integer reported) {
        Search search = searchFor(state, searchId);
        if (search != null && hotelId != null) {
            for (Shown shown : search.shown) {
                if (shown.hotelId.equals(hotelId)) {
                    return shown.position;
                }
            }
        }
        return reported;
    }

    @SuppressWarnings("unchecked")
    private static <T> T[] append(T[] array, T item) {
        T[] grown = Arrays.copyOf(array, array.length + 1);
        grown[array.length] = item;
        return grown;
    }
}
