package io.rankfeed.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Examined depth, the strongest label per hotel, and IPS weights of one result list (pure Java). */
class SearchExamplesTest {

    private static ResultList list(int hotels) {
        ResultList list = new ResultList();
        list.searchId = "q1";
        for (int i = 1; i <= hotels; i++) {
            list.shown.add(new Action.Shown("h" + i, i, 100.0 * i, 4.0));
        }
        return list;
    }

    private static ResultList.Outcome outcome(ResultList list, String hotelId) {
        return list.outcome(hotelId);
    }

    private static List<String> describe(List<SearchExamples.Example> examples) {
        List<String> described = new ArrayList<>();
        for (SearchExamples.Example example : examples) {
            described.add(example.shown.hotelId + ":" + example.kind + ":" + example.label);
        }
        return described;
    }

    private final SearchExamples examples = new SearchExamples(Configs.defaults());

    @Test
    void depthIsTheDeepestClickedOrBookedPosition() {
        ResultList list = list(6);
        outcome(list, "h2").clicked = true;
        outcome(list, "h4").booked = true;
        assertEquals(4, examples.examinedDepth(list));
    }

    @Test
    void scrollDepthExtendsButNeverReducesTheDepth() {
        ResultList list = list(6);
        outcome(list, "h2").clicked = true;
        list.scrollDepth = 5;
        assertEquals(5, examples.examinedDepth(list));
        list.scrollDepth = 1;
        assertEquals(2, examples.examinedDepth(list));
    }

    @Test
    void withoutClicksTheDepthIsTheNoClickPolicys() {
        ResultList list = list(6);
        list.scrollDepth = 5;
        assertEquals(0, examples.examinedDepth(list));
        assertEquals(List.of(), examples.examples(list, 0));
        assertEquals(3, new SearchExamples(Configs.with("no_click_top_k", 3)).examinedDepth(list));
    }

    @Test
    void theStrongestSignalWinsAndUnclickedExaminedHotelsAreIgnores() {
        ResultList list = list(5);
        ResultList.Outcome booked = outcome(list, "h1");
        booked.clicked = true;
        booked.booked = true;
        ResultList.Outcome kept = outcome(list, "h2");
        kept.clicked = true;
        kept.kept = true;
        kept.dwellSeconds = 42.0;
        outcome(list, "h4").clicked = true; // only a quick-back
        assertEquals(
                List.of("h1:book:2", "h2:click:1", "h3:ignore:0", "h4:quick_back:-1"),
                describe(examples.examples(list, 4)));
        assertEquals(42.0, examples.examples(list, 4).get(1).dwellSeconds);
        assertNull(examples.examples(list, 4).get(2).dwellSeconds);
    }

    @Test
    void examplesAreByPositionAndAHotelListedTwiceCountsOnce() {
        ResultList list = new ResultList();
        list.searchId = "q1";
        list.shown.add(new Action.Shown("h3", 3, 300.0, 3.0));
        list.shown.add(new Action.Shown("h1", 1, 100.0, 4.0));
        list.shown.add(new Action.Shown("h2", 2, 200.0, 5.0));
        list.shown.add(new Action.Shown("h1", 4, 100.0, 4.0)); // more impressions repeating h1
        outcome(list, "h3").clicked = true;
        outcome(list, "h3").kept = true;
        List<SearchExamples.Example> made = examples.examples(list, 4);
        assertEquals(List.of("h1:ignore:0", "h2:ignore:0", "h3:click:1"), describe(made));
        assertEquals(1, made.get(0).shown.position, "its first position");
    }

    @Test
    void labelsComeFromTheConfiguration() {
        Map<String, Object> doc = Configs.document();
        @SuppressWarnings("unchecked")
        Map<String, Object> labels = (Map<String, Object>) doc.get("labels");
        labels.put("click", 3);
        labels.put("book", 5);
        labels.put("ignore", -2);
        labels.put("quick_back", -4);
        SearchExamples custom = new SearchExamples(Configs.parse(doc));
        assertEquals(3, custom.label("click"));
        assertEquals(5, custom.label("book"));
        assertEquals(-2, custom.label("ignore"));
        assertEquals(-4, custom.label("quick_back"));
    }

    @Test
    void ipsWeightsWithAPropensityTable() {
        Map<String, Object> doc = Configs.document();
        doc.put("propensity", Configs.propensity("v7", List.of(0.9, 0.5, 0.1), 4.0));
        SearchExamples weighted = new SearchExamples(Configs.parse(doc));
        ResultList list = list(5);
        outcome(list, "h2").clicked = true;
        outcome(list, "h2").kept = true;
        outcome(list, "h5").clicked = true;
        outcome(list, "h5").booked = true;
        List<SearchExamples.Example> made = weighted.examples(list, 5);
        double[] weights = made.stream().mapToDouble(e -> e.ipsWeight).toArray();
        assertEquals(List.of(1.0, 2.0, 1.0, 1.0, 4.0), toList(weights), "click 1/0.5; book 1/0.1 cut at 4; ignores 1");
        assertEquals(0.1, made.get(4).propensity, "past the table: its last θ");
        assertEquals("v7", made.get(4).propensityVersion);
    }

    @Test
    void withoutATableEveryWeightIsOne() {
        ResultList list = list(3);
        outcome(list, "h3").clicked = true;
        for (SearchExamples.Example example : examples.examples(list, 3)) {
            assertEquals(1.0, example.ipsWeight);
            assertNull(example.propensity);
            assertNull(example.propensityVersion);
        }
    }

    private static List<Double> toList(double[] values) {
        List<Double> list = new ArrayList<>();
        for (double value : values) {
            list.add(value);
        }
        return list;
    }
}
