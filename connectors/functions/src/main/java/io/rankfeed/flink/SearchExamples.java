package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The LTR examples of one result list when its session closes: the examined depth, then one
 * example per examined hotel with its final label, list-normalized price and rating, and its
 * propensity and IPS weight.
 *
 * <p>Examined depth (README, "How labels are decided"): the deepest clicked or booked position,
 * extended by the list's scroll depth; a list without clicks is dropped, or under the top-k
 * no-click policy its first k positions are ignores. The strongest signal per hotel wins: book
 * over click over quick-back; examined hotels never clicked are ignores.
 */
final class SearchExamples {
    private final LabellingConfig config;

    SearchExamples(LabellingConfig config) {
        this.config = config;
    }

    /** One example's decided values. */
    static final class Example {
        Action.Shown shown;
        String kind;
        int label;
        Double dwellSeconds;
        Double priceZscore;
        Double priceRankPct;
        Double ratingZscore;
        Double ratingRankPct;
        double ipsWeight;
        Double propensity;
        String propensityVersion;
    }

    /** Positions 1..depth were examined; 0 when the list yields no examples. */
    int examinedDepth(ResultList list) {
        int deepest = 0;
        for (ResultList.Outcome outcome : list.outcomes) {
            if (outcome.clicked || outcome.booked) {
                Integer position = list.positionOf(outcome.hotelId);
                deepest = Math.max(deepest, position == null ? 0 : position);
            }
        }
        if (deepest > 0) {
            return Math.max(deepest, list.scrollDepth == null ? 0 : list.scrollDepth);
        }
        return config.noClickTopK;
    }

    /** The examples of {@code list} down to {@code depth}, by position; a hotel listed twice counts once. */
    List<Example> examples(ResultList list, int depth) {
        List<Example> examples = new ArrayList<>();
        if (depth == 0 || list.shown.isEmpty()) {
            return examples;
        }
        List<Double> prices = new ArrayList<>(list.shown.size());
        List<Double> ratings = new ArrayList<>(list.shown.size());
        for (Action.Shown shown : list.shown) {
            prices.add(shown.price);
            ratings.add(shown.rating);
        }
        Normalizer price = new Normalizer(prices);
        Normalizer rating = new Normalizer(ratings);
        List<Action.Shown> byPosition = new ArrayList<>(list.shown);
        byPosition.sort(Comparator.comparingInt((Action.Shown s) -> s.position));
        Set<String> done = new HashSet<>();
        for (Action.Shown shown : byPosition) {
            if (shown.position > depth || !done.add(shown.hotelId)) {
                continue;
            }
            ResultList.Outcome outcome = list.find(shown.hotelId);
            Example example = new Example();
            example.shown = shown;
            example.kind = outcome == null || outcome.kind() == null ? "ignore" : outcome.kind();
            example.label = label(example.kind);
            example.dwellSeconds = outcome == null ? null : outcome.dwellSeconds;
            example.priceZscore = price.zscore(shown.price);
            example.priceRankPct = price.rankPercentile(shown.price);
            example.ratingZscore = rating.zscore(shown.rating);
            example.ratingRankPct = rating.rankPercentile(shown.rating);
            example.propensity = config.theta(shown.position);
            example.ipsWeight = ipsWeight(example.kind, example.propensity);
            example.propensityVersion = config.propensity == null ? null : config.propensity.version;
            examples.add(example);
        }
        return examples;
    }

    int label(String kind) {
        switch (kind) {
            case "book":
                return config.labels.book;
            case "click":
                return config.labels.click;
            case "quick_back":
                return config.labels.quickBack;
            default:
                return config.labels.ignore;
        }
    }

    /** 1/θ_k cut at the table's maximum for click-derived labels (Joachims et al. 2017, IPS); 1 otherwise. */
    private double ipsWeight(String kind, Double theta) {
        if (theta == null || "ignore".equals(kind)) {
            return 1.0;
        }
        return Math.min(1.0 / theta, config.propensity.maxWeight);
    }
}
