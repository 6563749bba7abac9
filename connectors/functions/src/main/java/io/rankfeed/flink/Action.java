package io.rankfeed.flink;

import java.util.List;
import org.apache.avro.generic.GenericRecord;

/**
 * The fields of a UserAction that labelling reads, decoded once when the action arrives and kept
 * on the heap until the watermark passes it; {@link #raw} keeps the exact bytes for the clean topic.
 */
final class Action {
    String eventId;
    long time;
    byte[] raw;
    int sourcePartition;
    long sourceOffset;
    String sessionId;
    String type;
    String userId;
    String device;
    String searchId;
    String query;
    String hotelId;
    Integer position;
    Double duration;
    Integer scrollDepth;
    Boolean randomized;
    /** The impressions reported with a search or impression action; empty otherwise. */
    Shown[] shown = Shown.NONE;

    /** One hotel in a reported result list. */
    static final class Shown {
        static final Shown[] NONE = new Shown[0];
        String hotelId;
        int position;
        Double price;
        Double rating;

        Shown() {}

        Shown(String hotelId, int position, Double price, Double rating) {
            this.hotelId = hotelId;
            this.position = position;
            this.price = price;
            this.rating = rating;
        }
    }

    /** The labelling fields of a decoded record; {@code time} is the event time the source assigned. */
    static Action of(GenericRecord record, RawAction source) {
        Action action = new Action();
        action.eventId = record.get("event_id").toString();
        action.time = source.eventTime;
        action.raw = source.value;
        action.sourcePartition = source.partition;
        action.sourceOffset = source.offset;
        action.sessionId = record.get("session_id").toString();
        action.type = record.get("action_type").toString();
        action.userId = string(record, "user_id");
        action.device = string(record, "device");
        action.searchId = string(record, "search_id");
        action.query = string(record, "query");
        action.hotelId = string(record, "hotel_id");
        action.position = (Integer) record.get("position");
        action.duration = (Double) record.get("duration");
        action.scrollDepth = (Integer) record.get("scroll_depth");
        action.randomized = (Boolean) record.get("ranking_randomized");
        Object impressions = record.get("impressions");
        if (impressions != null) {
            List<?> items = (List<?>) impressions;
            action.shown = new Shown[items.size()];
            for (int i = 0; i < items.size(); i++) {
                GenericRecord item = (GenericRecord) items.get(i);
                action.shown[i] = new Shown(
                        item.get("hotel_id").toString(),
                        (Integer) item.get("position"),
                        (Double) item.get("price"),
                        (Double) item.get("rating"));
            }
        }
        return action;
    }

    private static String string(GenericRecord record, String field) {
        Object value = record.get(field);
        return value == null ? null : value.toString();
    }
}
