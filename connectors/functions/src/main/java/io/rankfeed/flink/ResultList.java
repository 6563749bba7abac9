package io.rankfeed.flink;

import java.util.ArrayList;
import java.util.List;

/** One result list of a session (a search, or impressions without one) and what happened to its hotels. */
final class ResultList {
    String searchId;
    long time;
    String query;
    Boolean randomized;
    Integer scrollDepth;
    final List<Action.Shown> shown = new ArrayList<>();
    final List<Outcome> outcomes = new ArrayList<>();

    /** What happened to one hotel of the list. */
    static final class Outcome {
        String hotelId;
        boolean clicked;
        /** Clicked at least once without a quick-back. */
        boolean kept;
        boolean booked;
        Double dwellSeconds;

        /** book, click or quick_back: the strongest signal wins; null when never clicked or booked. */
        String kind() {
            if (booked) {
                return "book";
            }
            if (kept) {
                return "click";
            }
            return clicked ? "quick_back" : null;
        }
    }

    Outcome find(String hotelId) {
        for (Outcome outcome : outcomes) {
            if (outcome.hotelId.equals(hotelId)) {
                return outcome;
            }
        }
        return null;
    }

    /** The outcome of {@code hotelId}, created on first use. */
    Outcome outcome(String hotelId) {
        Outcome outcome = find(hotelId);
        if (outcome == null) {
            outcome = new Outcome();
            outcome.hotelId = hotelId;
            outcomes.add(outcome);
        }
        return outcome;
    }

    boolean hasPosition(int position) {
        for (Action.Shown item : shown) {
            if (item.position == position) {
                return true;
            }
        }
        return false;
    }

    /** Where {@code hotelId} was shown in this list, or null. */
    Integer positionOf(String hotelId) {
        for (Action.Shown item : shown) {
            if (item.hotelId.equals(hotelId)) {
                return item.position;
            }
        }
        return null;
    }
}
