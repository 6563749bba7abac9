package io.rankfeed.flink;

import static io.rankfeed.flink.Actions.action;
import static io.rankfeed.flink.Actions.back;
import static io.rankfeed.flink.Actions.book;
import static io.rankfeed.flink.Actions.click;
import static io.rankfeed.flink.Actions.hotel;
import static io.rankfeed.flink.Actions.hotels;
import static io.rankfeed.flink.Actions.scroll;
import static io.rankfeed.flink.Actions.search;
import static io.rankfeed.flink.Configs.GAP;
import static io.rankfeed.flink.Configs.T;
import static io.rankfeed.flink.Output.Sink.CLEAN;
import static io.rankfeed.flink.Output.Sink.DLQ;
import static io.rankfeed.flink.Output.Sink.EXPOSURES;
import static io.rankfeed.flink.Output.Sink.FEEDBACK;
import static io.rankfeed.flink.Output.Sink.LTR;
import static io.rankfeed.flink.Output.Sink.SESSIONS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The labeller in Flink's keyed operator test harness: the README's "How labels are decided", rule by rule. */
class SessionLabellerFunctionTest {

    private static Labeller labeller() throws Exception {
        return new Labeller(Configs.defaults());
    }

    /** The watermark that closes a session whose last action is at {@code lastAction}. */
    private static long closeOf(long lastAction) {
        return lastAction + GAP;
    }

    private static List<Object> cleanEventIds(Labeller labeller) {
        return Records.column(labeller.records(CLEAN), "event_id");
    }

    @Nested
    class QuickBack {
        @ParameterizedTest(name = "back at {0} ms after a click at 10 s: {1}, label {2}, dwell {3}")
        @CsvSource({
            "19000, quick_back, -1, 9.0",
            "19999, quick_back, -1, 9.999",
            "20000, click, 1, 10.0", // exactly T is not a quick-back
        })
        void backAfterClickIsAQuickBackOnlyStrictlyBelowT(long backAt, String kind, int label, double dwell)
                throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(5)),
                        click("e2", 10_000, "q1", "h2", 2).duration(7.5),
                        back("e3", backAt));
                labeller.watermark(backAt);

                List<Map<String, Object>> feedback = labeller.records(FEEDBACK);
                assertEquals(1, feedback.size(), feedback.toString());
                Map<String, Object> event = feedback.get(0);
                assertEquals("e2", event.get("event_id"));
                assertEquals(kind, event.get("kind"));
                assertEquals(label, event.get("label"));
                assertEquals(dwell, event.get("dwell_seconds"));
                assertEquals(7.5, event.get("client_duration"));
                assertEquals("h2", event.get("hotel_id"));
                assertEquals(2, event.get("position"));
                assertEquals("q1", event.get("search_id"));
                assertEquals(10_000L, event.get("event_time"));
                assertEquals(Actions.SESSION, event.get("session_id"));
                assertEquals(Actions.USER, event.get("user_id"));
                assertEquals(Actions.DEVICE, event.get("device"));

                labeller.watermark(closeOf(backAt));
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h2");
                assertEquals(kind, example.get("label_kind"));
                assertEquals(label, example.get("label"));
                assertEquals(dwell, example.get("dwell_seconds"));
                assertEquals(kind.equals("quick_back") ? 1 : 0,
                        Records.find(labeller.records(SESSIONS), "session_id", Actions.SESSION).get("quick_backs"));
            }
        }

        @Test
        void clickWithoutNextActionByTIsDecidedWhenTheWatermarkPassesWithNullDwellAndTheExampleGetsItLater()
                throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2));
                labeller.watermark(19_999);
                assertEquals(List.of(), labeller.records(FEEDBACK), "not decided before click + T");

                labeller.watermark(20_000);
                List<Map<String, Object>> feedback = labeller.records(FEEDBACK);
                assertEquals(1, feedback.size());
                assertEquals("click", feedback.get(0).get("kind"));
                assertEquals(1, feedback.get(0).get("label"));
                assertNull(feedback.get(0).get("dwell_seconds"), "dwell unknown yet: null, never 0");

                labeller.send(back("e3", 45_000)).watermark(45_000);
                assertEquals(1, labeller.records(FEEDBACK).size(), "a decided click is not emitted again");

                labeller.watermark(closeOf(45_000));
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h2");
                assertEquals("click", example.get("label_kind"));
                assertEquals(35.0, example.get("dwell_seconds"), "the LTR example carries the dwell measured later");
                Map<String, Object> exposures = labeller.records(EXPOSURES).get(0);
                Map<String, Object> h2 = Records.find(items(exposures), "hotel_id", "h2");
                assertEquals(35.0, h2.get("dwell_seconds"));
                assertEquals("click", h2.get("outcome"));
            }
        }

        @Test
        void nextActionMoreThanTLaterInTheSameStepIsAClickWithoutDwellInTheFeedback() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2), back("e3", 20_001));
                labeller.watermark(20_001);
                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertEquals("click", event.get("kind"));
                assertNull(event.get("dwell_seconds"), "the same labels as when the watermark passes click + T first");
                labeller.watermark(closeOf(20_001));
                assertEquals(10.001, Records.find(labeller.records(LTR), "hotel_id", "h2").get("dwell_seconds"));
            }
        }

        @ParameterizedTest(name = "next action {0} 5 s after a click: {1}")
        @CsvSource({
            "back, quick_back",
            "search, quick_back",
            "impression, quick_back",
            "click, quick_back",
            "book, click",
            "scroll, click",
            "rate, click",
        })
        void onlyBackSearchImpressionOrClickMakeAQuickBack(String nextType, String kind) throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2), next(nextType));
                labeller.watermark(15_000);
                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertEquals(kind, event.get("kind"));
                assertEquals(5.0, event.get("dwell_seconds"));
            }
        }

        private Actions.Builder next(String type) {
            switch (type) {
                case "back":
                    return back("e3", 15_000);
                case "search":
                    return search("e3", 15_000, "q2", hotels(3));
                case "impression":
                    return action("e3", "impression", 15_000).searchId("q2").impressions(hotels(3));
                case "click":
                    return click("e3", 15_000, "q1", "h4", 4);
                case "book":
                    return book("e3", 15_000, "q1", "h3", 3);
                case "scroll":
                    return scroll("e3", 15_000, "q1", 4);
                default:
                    return action("e3", type, 15_000).hotel("h2", 2).set("rating", 4.0);
            }
        }
    }

    @Nested
    class Dedup {
        @Test
        void anEarlierCopyReplacesAStillPendingLaterCopy() throws Exception {
            try (Labeller labeller = labeller()) {
                Actions.Builder later = click("e2", 12_000, "q1", "h2", 2).duration(1.0);
                Actions.Builder earlier = click("e2", 11_000, "q1", "h2", 2).duration(2.0);
                Actions.Builder latest = click("e2", 13_000, "q1", "h2", 2).duration(3.0);
                labeller.send(search("e1", 0, "q1", hotels(5)), later, earlier, latest);
                assertEquals(1, labeller.timers());
                labeller.watermark(30_000);

                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertEquals(11_000L, event.get("event_time"), "the first copy by event time is kept");
                assertEquals(2.0, event.get("client_duration"));
                assertEquals(List.of("e1", "e2"), cleanEventIds(labeller), "clean output holds the action once");
                List<byte[]> cleanBytes = new ArrayList<>();
                for (Output output : labeller.outputs()) {
                    if (output.sink == CLEAN) {
                        cleanBytes.add(output.value);
                    }
                }
                assertArrayEquals(earlier.bytes(), cleanBytes.get(1), "the kept copy's exact bytes");
            }
        }

        @Test
        void aDuplicateAfterItsActionWasProcessedIsDropped() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2));
                labeller.watermark(15_000);
                labeller.send(click("e2", 16_000, "q1", "h2", 2)); // a retry stamped later
                labeller.watermark(40_000).watermark(closeOf(40_000));

                assertEquals(List.of("e1", "e2"), cleanEventIds(labeller));
                assertEquals(1, labeller.records(FEEDBACK).size());
                Map<String, Object> summary = labeller.records(SESSIONS).get(0);
                assertEquals(2, summary.get("actions"));
                assertEquals(1, summary.get("clicks"));
                assertEquals(10_000L, summary.get("session_end"));
            }
        }

        @Test
        void aDuplicateOfTheActionThatStartedANewSessionInTheSameStepIsDropped() throws Exception {
            try (Labeller labeller = labeller()) {
                // e2 starts session 2 in the same watermark step that closes session 1 (by the gap).
                labeller.send(search("e1", 0, "q1", hotels(3)), search("e2", GAP, "q2", hotels(3)));
                labeller.watermark(GAP);
                labeller.send(search("e2", GAP + 5_000, "q2", hotels(3))); // a retry stamped later: a duplicate
                labeller.watermark(GAP + 5_000).watermark(closeOf(GAP + 5_000));

                List<Map<String, Object>> summaries = labeller.records(SESSIONS);
                List<Map<String, Object>> exposures = labeller.records(EXPOSURES);
                String observed = "clean " + cleanEventIds(labeller)
                        + ", summaries " + Records.column(summaries, "actions")
                        + " actions / " + Records.column(summaries, "searches") + " searches"
                        + ", q2 shows " + items(Records.find(exposures, "search_id", "q2")).size() + " hotels";
                assertEquals("clean [e1, e2], summaries [1, 1] actions / [1, 1] searches, q2 shows 3 hotels", observed,
                        "e2's later copy is a duplicate within session 2 and must be dropped");
            }
        }
    }

    @Test
    void outOfOrderArrivalIsProcessedInEventTimeOrder() throws Exception {
        try (Labeller labeller = labeller()) {
            labeller.send(back("e3", 19_000), click("e2", 10_000, "q1", "h2", 2), search("e1", 0, "q1", hotels(5)));
            labeller.watermark(19_000);
            Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
            assertEquals("quick_back", event.get("kind"));
            assertEquals(9.0, event.get("dwell_seconds"));
            assertEquals(List.of("e1", "e2", "e3"), cleanEventIds(labeller));
        }
    }

    @Test
    void equalTimesAreOrderedByEventId() throws Exception {
        try (Labeller labeller = labeller()) {
            // Same millisecond: the click (e2) goes before the back (e3), whatever the arrival order.
            labeller.send(back("e3", 10_000), search("e1", 0, "q1", hotels(3)), click("e2", 10_000, "q1", "h2", 2));
            labeller.watermark(10_000);
            assertEquals(List.of("e1", "e2", "e3"), cleanEventIds(labeller));
        }
    }

    @Nested
    class NoClickPolicy {
        @Test
        void byDefaultASearchWithoutClicksGivesNoExamplesButOneExposuresRecord() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), scroll("e2", 5_000, "q1", 4));
                labeller.watermark(closeOf(5_000));
                assertEquals(List.of(), labeller.records(LTR));
                List<Map<String, Object>> exposures = labeller.records(EXPOSURES);
                assertEquals(1, exposures.size());
                assertEquals("q1", exposures.get(0).get("search_id"));
                assertEquals("paris", exposures.get(0).get("destination"));
                assertEquals(closeOf(5_000), exposures.get(0).get("closed_at"));
                List<Map<String, Object>> items = items(exposures.get(0));
                assertEquals(List.of("h1", "h2", "h3", "h4", "h5"), Records.column(items, "hotel_id"));
                assertEquals(List.of(false, false, false, false, false), Records.column(items, "examined"));
                assertEquals(Arrays.asList(null, null, null, null, null), Records.column(items, "outcome"));
                assertEquals(1, labeller.records(SESSIONS).size());
            }
        }

        @Test
        void withTopKTheTopKAreIgnores() throws Exception {
            try (Labeller labeller = new Labeller(Configs.with("no_click_top_k", 3))) {
                labeller.send(search("e1", 0, "q1", hotels(5)));
                labeller.watermark(closeOf(0));
                List<Map<String, Object>> examples = labeller.records(LTR);
                assertEquals(List.of("h1", "h2", "h3"), Records.column(examples, "hotel_id"));
                assertEquals(List.of("ignore", "ignore", "ignore"), Records.column(examples, "label_kind"));
                assertEquals(List.of(0, 0, 0), Records.column(examples, "label"));
                List<Map<String, Object>> items = items(labeller.records(EXPOSURES).get(0));
                assertEquals(List.of(true, true, true, false, false), Records.column(items, "examined"));
            }
        }
    }

    @Test
    void examinedDepthIsTheDeepestClickExtendedByScrollDepth() throws Exception {
        try (Labeller labeller = labeller()) {
            labeller.send(
                    search("e1", 0, "q1", hotels(6)),
                    scroll("e2", 2_000, "q1", 4),
                    scroll("e3", 3_000, "q1", 1), // a shallower scroll does not reduce the depth
                    click("e4", 5_000, "q1", "h2", 2));
            labeller.watermark(closeOf(5_000));
            List<Map<String, Object>> examples = labeller.records(LTR);
            assertEquals(List.of("h1", "h2", "h3", "h4"), Records.column(examples, "hotel_id"));
            assertEquals(List.of("ignore", "click", "ignore", "ignore"), Records.column(examples, "label_kind"));
            assertEquals(List.of(0, 1, 0, 0), Records.column(examples, "label"));
            assertEquals(List.of(1, 2, 3, 4), Records.column(examples, "position"));
            List<Map<String, Object>> items = items(labeller.records(EXPOSURES).get(0));
            assertEquals(List.of(true, true, true, true, false, false), Records.column(items, "examined"));
        }
    }

    @Test
    void normalizationTiesAndNullsInTheExamples() throws Exception {
        try (Labeller labeller = labeller()) {
            labeller.send(
                    search("e1", 0, "q1",
                            hotel("h1", 1, 100.0, 4.0),
                            hotel("h2", 2, 100.0, null),
                            hotel("h3", 3, 100.0, 5.0)),
                    click("e2", 5_000, "q1", "h3", 3));
            labeller.watermark(closeOf(5_000));
            List<Map<String, Object>> examples = labeller.records(LTR);
            assertEquals(3, examples.size());
            for (Map<String, Object> example : examples) {
                assertEquals(0.0, example.get("price_zscore"), "equal prices: z-score 0");
                assertEquals(0.5, example.get("price_rank_pct"), "ties at their mean rank");
            }
            Map<String, Object> h2 = Records.find(examples, "hotel_id", "h2");
            assertNull(h2.get("rating"));
            assertNull(h2.get("rating_zscore"), "a missing rating stays null");
            assertNull(h2.get("rating_rank_pct"));
            Map<String, Object> h1 = Records.find(examples, "hotel_id", "h1");
            assertEquals(-1.0, (Double) h1.get("rating_zscore"), 1e-12, "over the known ratings only");
            assertEquals(0.0, h1.get("rating_rank_pct"));
            assertEquals(1.0, (Double) Records.find(examples, "hotel_id", "h3").get("rating_zscore"), 1e-12);
            assertEquals(1.0, Records.find(examples, "hotel_id", "h3").get("rating_rank_pct"));
        }
    }

    @Nested
    class Book {
        @Test
        void aBookIsEmittedAtOnceAndUpgradesTheExample() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(5)),
                        click("e2", 10_000, "q1", "h2", 2),
                        book("e3", 15_000, "q1", "h2", 2).duration(30.0));
                labeller.watermark(15_000);

                List<Map<String, Object>> feedback = labeller.records(FEEDBACK);
                assertEquals(List.of("click", "book"), Records.column(feedback, "kind"));
                Map<String, Object> clickEvent = feedback.get(0);
                assertEquals(1, clickEvent.get("label"));
                assertEquals(5.0, clickEvent.get("dwell_seconds"), "a book next is never a quick-back");
                Map<String, Object> bookEvent = feedback.get(1);
                assertEquals("e3", bookEvent.get("event_id"));
                assertEquals(2, bookEvent.get("label"));
                assertEquals("h2", bookEvent.get("hotel_id"));
                assertEquals(2, bookEvent.get("position"));
                assertEquals(15_000L, bookEvent.get("event_time"));
                assertEquals(30.0, bookEvent.get("client_duration"));
                assertNull(bookEvent.get("dwell_seconds"));
                assertEquals(List.of(), labeller.records(LTR), "examples wait for the session's close");

                labeller.watermark(closeOf(15_000));
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h2");
                assertEquals("book", example.get("label_kind"));
                assertEquals(2, example.get("label"));
                assertEquals(5.0, example.get("dwell_seconds"));
                assertEquals("book", Records.find(items(labeller.records(EXPOSURES).get(0)), "hotel_id", "h2")
                        .get("outcome"));
                Map<String, Object> summary = labeller.records(SESSIONS).get(0);
                assertEquals(1, summary.get("books"));
                assertEquals(1, summary.get("clicks"));
            }
        }

        @Test
        void aBookWithoutAClickSetsTheExaminedDepth() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), book("e2", 10_000, "q1", "h3", 3));
                labeller.watermark(closeOf(10_000));
                List<Map<String, Object>> examples = labeller.records(LTR);
                assertEquals(List.of("ignore", "ignore", "book"), Records.column(examples, "label_kind"));
                assertEquals(List.of(0, 0, 2), Records.column(examples, "label"));
            }
        }

        @Test
        void aQuickBackThenABookOfTheSameHotelIsABook() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(5)),
                        click("e2", 10_000, "q1", "h2", 2),
                        back("e3", 12_000),
                        book("e4", 60_000, "q1", "h2", 2));
                labeller.watermark(closeOf(60_000));
                assertEquals(List.of("quick_back", "book"), Records.column(labeller.records(FEEDBACK), "kind"));
                assertEquals("book", Records.find(labeller.records(LTR), "hotel_id", "h2").get("label_kind"));
            }
        }
    }

    @Nested
    class Dwell {
        @Test
        void aNextActionInTheSameMillisecondIsDwellZeroNotNull() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2), back("e3", 10_000));
                labeller.watermark(closeOf(10_000));
                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertEquals(0.0, event.get("dwell_seconds"));
                assertEquals("quick_back", event.get("kind"));
                assertEquals(0.0, Records.find(labeller.records(LTR), "hotel_id", "h2").get("dwell_seconds"));
            }
        }

        @Test
        void theLastClickOfASessionHasNullDwellEverywhere() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(5)), click("e2", 10_000, "q1", "h2", 2).duration(12.0));
                labeller.watermark(closeOf(10_000));
                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertNull(event.get("dwell_seconds"));
                assertEquals(12.0, event.get("client_duration"), "the client's duration is kept beside it");
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h2");
                assertNull(example.get("dwell_seconds"));
                assertEquals("click", example.get("label_kind"), "the client duration does not decide the label");
                assertNull(Records.find(items(labeller.records(EXPOSURES).get(0)), "hotel_id", "h2")
                        .get("dwell_seconds"));
            }
        }
    }

    @Nested
    class Sessions {
        @Test
        void aGapOfExactlyTheSessionGapSplitsTheSession() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(3)),
                        click("e2", 10_000, "q1", "h1", 1),
                        search("e3", 10_000 + GAP, "q2", hotels(3)));
                labeller.watermark(10_000 + GAP);
                List<Map<String, Object>> summaries = labeller.records(SESSIONS);
                assertEquals(1, summaries.size(), "the first session closes in the step that reaches its gap");
                Map<String, Object> first = summaries.get(0);
                assertEquals(0L, first.get("session_start"));
                assertEquals(10_000L, first.get("session_end"));
                assertEquals(10.0, first.get("duration_seconds"));
                assertEquals(2, first.get("actions"));
                assertEquals(1, first.get("clicks"));
                assertEquals(closeOf(10_000), labeller.records(EXPOSURES).get(0).get("closed_at"));

                labeller.watermark(closeOf(10_000 + GAP));
                summaries = labeller.records(SESSIONS);
                assertEquals(2, summaries.size());
                Map<String, Object> second = summaries.get(1);
                assertEquals(10_000 + GAP, second.get("session_start"));
                assertEquals(1, second.get("actions"));
                assertEquals(1, second.get("searches"));
                assertEquals(0, second.get("clicks"));
            }
        }

        @Test
        void aGapJustBelowTheSessionGapKeepsOneSession() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(3)), search("e2", GAP - 1, "q2", hotels(3)));
                labeller.watermark(closeOf(GAP - 1) - 1);
                assertEquals(List.of(), labeller.records(SESSIONS), "not closed before last action + gap");
                labeller.watermark(closeOf(GAP - 1));
                List<Map<String, Object>> summaries = labeller.records(SESSIONS);
                assertEquals(1, summaries.size());
                assertEquals(2, summaries.get(0).get("searches"));
            }
        }

        @Test
        void theSummaryCountsTheSession() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(5)).randomized(true),
                        click("e2", 10_000, "q1", "h2", 2),
                        back("e3", 15_000),
                        click("e4", 20_000, "q1", "h3", 3),
                        book("e5", 40_000, "q1", "h3", 3),
                        search("e6", 60_000, "q2", hotels(2)).set("device", "mobile"));
                labeller.watermark(closeOf(60_000));
                Map<String, Object> summary = labeller.records(SESSIONS).get(0);
                assertEquals(Actions.SESSION, summary.get("session_id"));
                assertEquals(Actions.USER, summary.get("user_id"));
                assertEquals(0L, summary.get("session_start"));
                assertEquals(60_000L, summary.get("session_end"));
                assertEquals(60.0, summary.get("duration_seconds"));
                assertEquals(6, summary.get("actions"));
                assertEquals(2, summary.get("searches"));
                assertEquals(2, summary.get("clicks"));
                assertEquals(1, summary.get("books"));
                assertEquals(1, summary.get("quick_backs"));
                assertEquals(Actions.DEVICE, summary.get("device"), "the session's first device");
                assertEquals(2, labeller.records(EXPOSURES).size());
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h3");
                assertEquals(2, example.get("session_searches"));
                assertEquals(2, example.get("session_clicks"));
                assertEquals(true, example.get("ranking_randomized"));
                assertEquals("paris", example.get("query"));
                assertEquals(0L, example.get("search_time"));
                assertEquals(true, Records.find(labeller.records(FEEDBACK), "event_id", "e2").get("ranking_randomized"));
            }
        }

        @Test
        void sessionsAreKeyedIndependently() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("a1", 0, "qa", hotels(3)).session("sa"),
                        search("b1", 1_000, "qb", hotels(3)).session("sb"),
                        click("a2", 5_000, "qa", "h1", 1).session("sa"),
                        back("b2", 6_000).session("sb"));
                assertEquals(2, labeller.timers(), "one timer per key");
                labeller.watermark(closeOf(6_000));
                assertEquals(List.of("sa", "sb"), Records.column(labeller.records(SESSIONS), "session_id"));
                Map<String, Object> event = labeller.records(FEEDBACK).get(0);
                assertEquals("sa", event.get("session_id"));
                assertNull(event.get("dwell_seconds"), "another session's action is not this click's next action");
                for (Output output : labeller.outputs()) {
                    String key = new String(output.key, StandardCharsets.UTF_8);
                    assertTrue(key.equals("sa") || key.equals("sb"), "keyed by session id: " + key);
                }
                assertEquals(0, labeller.timers());
                assertEquals(0, labeller.stateEntries());
            }
        }
    }

    @Nested
    class TimersAndState {
        @Test
        void exactlyOneTimerPerKeyAndStateClearedAfterTheClose() throws Exception {
            try (Labeller labeller = labeller()) {
                assertEquals(0, labeller.timers());
                labeller.send(search("e1", 0, "q1", hotels(5)));
                assertEquals(1, labeller.timers());
                labeller.send(click("e2", 10_000, "q1", "h2", 2), back("e3", 30_000));
                assertEquals(1, labeller.timers(), "more pending actions, still one timer");
                labeller.watermark(5_000); // the search; next deadline: the click's pending time
                assertEquals(1, labeller.timers());
                labeller.watermark(12_000); // the click; next: its decision at click + T
                assertEquals(1, labeller.timers());
                assertEquals(List.of(), labeller.records(FEEDBACK));
                labeller.watermark(20_000); // decided without dwell; next: the pending back
                assertEquals(1, labeller.records(FEEDBACK).size());
                assertEquals(1, labeller.timers());
                labeller.watermark(30_000); // the back; next: the close
                assertEquals(1, labeller.timers());
                assertEquals(2, labeller.stateEntries(), "the session and its one result list");
                labeller.watermark(closeOf(30_000) - 1);
                assertEquals(List.of(), labeller.records(SESSIONS));
                assertEquals(1, labeller.timers());
                labeller.watermark(closeOf(30_000));
                assertEquals(1, labeller.records(SESSIONS).size());
                assertEquals(0, labeller.timers(), "no timer once the session is closed and nothing is pending");
                assertEquals(0, labeller.stateEntries(), "the key's state is cleared");
            }
        }

        @Test
        void stateStaysWhileANextSessionsActionIsPending() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(3)), search("e2", 2 * GAP, "q2", hotels(3)));
                labeller.watermark(closeOf(0));
                assertEquals(1, labeller.records(SESSIONS).size());
                assertEquals(1, labeller.timers());
                assertEquals(1, labeller.stateEntries());
                labeller.watermark(closeOf(2 * GAP));
                assertEquals(2, labeller.records(SESSIONS).size());
                assertEquals(0, labeller.timers());
                assertEquals(0, labeller.stateEntries());
            }
        }

        @Test
        void anEarlierDuplicateMovesTheTimerEarlier() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 20_000, "q1", hotels(3)));
                labeller.send(search("e1", 10_000, "q1", hotels(3)));
                assertEquals(1, labeller.timers());
                labeller.watermark(10_000);
                assertEquals(List.of("e1"), cleanEventIds(labeller), "released at the earlier copy's time");
                labeller.watermark(closeOf(20_000));
                assertEquals(10_000L, labeller.records(SESSIONS).get(0).get("session_end"));
                assertEquals(List.of("e1"), cleanEventIds(labeller));
            }
        }
    }

    @Nested
    class PoisonAndHeartbeat {
        @Test
        void bytesLeftOverAfterARecordGoToTheDeadLetterOutputWithAReason() throws Exception {
            byte[] valid = search("e1", 0, "q1", hotels(2)).bytes();
            byte[] bytes = Arrays.copyOf(valid, valid.length + 3);
            assertDeadLetter(bytes, "bytes left over");
        }

        @Test
        void truncatedBytesGoToTheDeadLetterOutput() throws Exception {
            byte[] valid = search("e1", 0, "q1", hotels(2)).bytes();
            // Cut inside the last impression's rating (the 6 trailing null unions, the array's end, 3 of 8 bytes):
            // no version of the contract reads it. (Cutting only whole trailing optional fields is an earlier
            // version, which the decoder accepts.)
            assertDeadLetter(Arrays.copyOf(valid, valid.length - 10), "not a UserAction Avro record");
        }

        @Test
        void anUnknownActionTypeGoesToTheDeadLetterOutput() throws Exception {
            assertDeadLetter(action("e1", "teleport", 0).bytes(), "'teleport'");
        }

        private void assertDeadLetter(byte[] bytes, String reasonPart) throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(Actions.poison(bytes, Actions.SESSION, 1_000));
                List<Output> outputs = labeller.outputs();
                assertEquals(1, outputs.size());
                assertEquals(DLQ, outputs.get(0).sink);
                Map<String, Object> rejected = Records.decode(outputs.get(0));
                String reason = (String) rejected.get("reason");
                assertNotNull(reason);
                assertTrue(reason.contains(reasonPart), reason);
                assertArrayEquals(bytes, (byte[]) rejected.get("raw_value"));
                assertEquals(3, rejected.get("source_partition"));
                assertEquals(42L, rejected.get("source_offset"));
                assertEquals(0, labeller.timers());
                assertEquals(0, labeller.stateEntries());
            }
        }

        @Test
        void heartbeatsProduceNothing() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(action("hb1", "heartbeat", 5_000).session("p0"));
                labeller.watermark(closeOf(5_000));
                assertEquals(List.of(), labeller.outputs());
                assertEquals(0, labeller.timers());
                assertEquals(0, labeller.stateEntries());
            }
        }

        @Test
        void aHeartbeatIsNotAClicksNextAction() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(
                        search("e1", 0, "q1", hotels(3)),
                        click("e2", 10_000, "q1", "h2", 2),
                        action("hb", "heartbeat", 12_000),
                        back("e3", 19_000));
                labeller.watermark(closeOf(19_000));
                Map<String, Object> event = Records.find(labeller.records(FEEDBACK), "event_id", "e2");
                assertEquals("quick_back", event.get("kind"));
                assertEquals(9.0, event.get("dwell_seconds"));
                assertEquals(3, labeller.records(SESSIONS).get(0).get("actions"));
                assertEquals(List.of("e1", "e2", "e3"), cleanEventIds(labeller));
            }
        }
    }

    @Nested
    class Ips {
        @Test
        void clickedExamplesAreWeightedByInversePropensityCutAtTheMaximum() throws Exception {
            Map<String, Object> doc = Configs.document();
            doc.put("propensity", Configs.propensity("pbm-1", List.of(0.8, 0.5, 0.25), 3.0));
            try (Labeller labeller = new Labeller(Configs.parse(doc))) {
                labeller.send(
                        search("e1", 0, "q1", hotels(6)),
                        click("e2", 5_000, "q1", "h1", 1),
                        click("e3", 8_000, "q1", "h2", 2), // e2 is a quick-back
                        click("e4", 40_000, "q1", "h5", 5));
                labeller.watermark(closeOf(40_000));
                List<Map<String, Object>> examples = labeller.records(LTR);
                assertEquals(List.of("h1", "h2", "h3", "h4", "h5"), Records.column(examples, "hotel_id"));
                assertEquals(List.of("quick_back", "click", "ignore", "ignore", "click"),
                        Records.column(examples, "label_kind"));
                assertEquals(List.of(0.8, 0.5, 0.25, 0.25, 0.25), Records.column(examples, "propensity"),
                        "positions past the table take its last θ");
                assertEquals(List.of(1.25, 2.0, 1.0, 1.0, 3.0), Records.column(examples, "ips_weight"),
                        "1/θ for click-derived labels, cut at max_weight; ignores 1");
                assertEquals(List.of("pbm-1", "pbm-1", "pbm-1", "pbm-1", "pbm-1"),
                        Records.column(examples, "propensity_version"));
            }
        }

        @Test
        void aBookIsWeightedToo() throws Exception {
            Map<String, Object> doc = Configs.document();
            doc.put("propensity", Configs.propensity("pbm-1", List.of(0.8, 0.5, 0.25), 10.0));
            try (Labeller labeller = new Labeller(Configs.parse(doc))) {
                labeller.send(search("e1", 0, "q1", hotels(6)), book("e2", 5_000, "q1", "h6", 6));
                labeller.watermark(closeOf(5_000));
                Map<String, Object> example = Records.find(labeller.records(LTR), "hotel_id", "h6");
                assertEquals(4.0, example.get("ips_weight"));
            }
        }

        @Test
        void withoutATableWeightsAreOneAndPropensityNull() throws Exception {
            try (Labeller labeller = labeller()) {
                labeller.send(search("e1", 0, "q1", hotels(3)), click("e2", 5_000, "q1", "h3", 3));
                labeller.watermark(closeOf(5_000));
                for (Map<String, Object> example : labeller.records(LTR)) {
                    assertEquals(1.0, example.get("ips_weight"));
                    assertNull(example.get("propensity"));
                    assertNull(example.get("propensity_version"));
                }
            }
        }
    }

    @Nested
    class SnapshotAndRestore {
        private void firstHalf(Labeller labeller) throws Exception {
            labeller.send(
                    search("e1", 0, "q1", hotels(5)).randomized(true),
                    click("e2", 10_000, "q1", "h2", 2),
                    back("e3", 25_000),
                    search("f1", 1_000, "r1", hotels(4)).session("s2"),
                    click("f2", 14_000, "r1", "h1", 1).session("s2"));
            labeller.send(click("e2", 26_000, "q1", "h2", 2)); // a duplicate still to be dropped after the restore
            labeller.watermark(15_000); // clicks open, the back pending
        }

        private void secondHalf(Labeller labeller) throws Exception {
            labeller.send(
                    click("e2", 27_000, "q1", "h2", 2),
                    click("e4", 30_000, "q1", "h4", 4),
                    book("e5", 35_000, "q1", "h4", 4),
                    back("f3", 20_000).session("s2"));
            labeller.watermark(22_000);
            labeller.watermark(40_000);
            labeller.watermark(closeOf(35_000));
        }

        @Test
        void aRestoredOperatorContinuesWithTheSameOutput() throws Exception {
            List<String> uninterrupted;
            try (Labeller labeller = labeller()) {
                firstHalf(labeller);
                secondHalf(labeller);
                uninterrupted = describe(labeller.outputs());
                assertEquals(0, labeller.stateEntries());
            }

            OperatorSubtaskState snapshot;
            List<String> restored;
            try (Labeller before = labeller()) {
                firstHalf(before);
                restored = new ArrayList<>(describe(before.outputs()));
                snapshot = before.snapshot(1, 15_000);
            }
            try (Labeller after = new Labeller(Configs.defaults(), snapshot)) {
                assertEquals(2, after.timers(), "the timers are restored");
                assertEquals(4, after.stateEntries(), "two sessions and their result lists");
                secondHalf(after);
                restored.addAll(describe(after.outputs()));
                assertEquals(0, after.timers());
                assertEquals(0, after.stateEntries());
            }
            assertTrue(uninterrupted.stream().anyMatch(s -> s.startsWith("LTR")), uninterrupted.toString());
            assertEquals(uninterrupted, restored);
        }

        private List<String> describe(List<Output> outputs) {
            List<String> described = new ArrayList<>();
            for (Output output : outputs) {
                described.add(output.sink + " " + new String(output.key, StandardCharsets.UTF_8) + " "
                        + Base64.getEncoder().encodeToString(output.value));
            }
            return described;
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> items(Map<String, Object> exposures) {
        return (List<Map<String, Object>>) exposures.get("exposures");
    }
}
