package io.rankfeed.flink;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;

/**
 * Encodes the labeller's outputs once, to the Avro binary of their contract records (the same
 * bytes Flink's {@code avro} format and fastavro read), keyed by session. Timestamps are epoch
 * milliseconds, as {@code timestamp-millis} stores them. Not thread-safe: one per task.
 */
final class OutputEncoder {
    private final AvroEncoding feedback = new AvroEncoding(Contract.FEEDBACK_EVENT);
    private final AvroEncoding ltr = new AvroEncoding(Contract.LTR_EXAMPLE);
    private final AvroEncoding summary = new AvroEncoding(Contract.SESSION_SUMMARY);
    private final AvroEncoding exposures = new AvroEncoding(Contract.SEARCH_EXPOSURES);
    private final AvroEncoding rejected = new AvroEncoding(Contract.REJECTED_ACTION);
    private final Schema exposureSchema = exposures.schema.getField("exposures").schema().getElementType();

    /** A clean event: the action's bytes as they came, keyed by its session. */
    Output clean(Action action) {
        return new Output(Output.Sink.CLEAN, key(action.sessionId), action.raw);
    }

    Output feedback(
            LabellingSession session,
            LabellingSession.OpenClick click,
            String kind,
            int label,
            Double dwellSeconds,
            Boolean randomized) {
        GenericRecord record = feedback.record();
        record.put("event_id", click.eventId);
        record.put("session_id", session.sessionId);
        record.put("user_id", session.userId);
        record.put("search_id", click.searchId);
        record.put("hotel_id", click.hotelId == null ? "" : click.hotelId);
        record.put("position", click.position);
        record.put("event_time", click.time);
        record.put("kind", kind);
        record.put("label", label);
        record.put("dwell_seconds", dwellSeconds);
        record.put("client_duration", click.clientDuration);
        record.put("device", session.device);
        record.put("ranking_randomized", randomized);
        return new Output(Output.Sink.FEEDBACK, key(session.sessionId), feedback.encode(record));
    }

    /** An LTR example; {@code example} holds the per-hotel values SearchExamples decided. */
    Output ltr(LabellingSession session, ResultList list, SearchExamples.Example example) {
        GenericRecord record = ltr.record();
        record.put("search_id", list.searchId);
        record.put("hotel_id", example.shown.hotelId);
        record.put("session_id", session.sessionId);
        record.put("user_id", session.userId);
        record.put("query", list.query);
        record.put("search_time", list.time);
        record.put("label", example.label);
        record.put("label_kind", example.kind);
        record.put("position", example.shown.position);
        record.put("price", example.shown.price);
        record.put("rating", example.shown.rating);
        record.put("price_zscore", example.priceZscore);
        record.put("price_rank_pct", example.priceRankPct);
        record.put("rating_zscore", example.ratingZscore);
        record.put("rating_rank_pct", example.ratingRankPct);
        record.put("device", session.device);
        record.put("dwell_seconds", example.dwellSeconds);
        record.put("ranking_randomized", list.randomized);
        record.put("session_searches", session.searches);
        record.put("session_clicks", session.clicks);
        record.put("ips_weight", example.ipsWeight);
        record.put("propensity", example.propensity);
        record.put("propensity_version", example.propensityVersion);
        return new Output(Output.Sink.LTR, key(session.sessionId), ltr.encode(record));
    }

    Output summary(LabellingSession session) {
        GenericRecord record = summary.record();
        record.put("session_id", session.sessionId);
        record.put("user_id", session.userId);
        record.put("session_start", session.start);
        record.put("session_end", session.end);
        record.put("duration_seconds", (session.end - session.start) / 1000.0);
        record.put("actions", session.actions);
        record.put("searches", session.searches);
        record.put("clicks", session.clicks);
        record.put("books", session.books);
        record.put("quick_backs", session.quickBacks);
        record.put("device", session.device);
        return new Output(Output.Sink.SESSIONS, key(session.sessionId), summary.encode(record));
    }

    /** One record per result list: every hotel shown, whether examined, what happened to it. */
    Output exposures(
            LabellingSession session, ResultList list, int examinedDepth, long closedAt, long labellerWatermark) {
        List<GenericRecord> items = new ArrayList<>(list.shown.size());
        for (Action.Shown shown : list.shown) {
            ResultList.Outcome outcome = list.find(shown.hotelId);
            GenericRecord item = new GenericData.Record(exposureSchema);
            item.put("hotel_id", shown.hotelId);
            item.put("position", shown.position);
            item.put("examined", shown.position <= examinedDepth);
            item.put("outcome", outcome == null ? null : outcome.kind());
            item.put("dwell_seconds", outcome == null ? null : outcome.dwellSeconds);
            items.add(item);
        }
        GenericRecord record = exposures.record();
        record.put("search_id", list.searchId);
        record.put("session_id", session.sessionId);
        record.put("destination", list.query);
        record.put("ranking_randomized", list.randomized);
        record.put("search_time", list.time);
        record.put("closed_at", closedAt);
        record.put("labeller_watermark", labellerWatermark == Long.MIN_VALUE ? null : labellerWatermark);
        record.put("exposures", items);
        return new Output(Output.Sink.EXPOSURES, key(session.sessionId), exposures.encode(record));
    }

    /** A watermark beacon for search-exposures: no exposures, empty ids, closed at the watermark it carries. */
    byte[] beacon(long watermark) {
        GenericRecord record = exposures.record();
        record.put("search_id", "");
        record.put("session_id", "");
        record.put("destination", null);
        record.put("ranking_randomized", null);
        record.put("search_time", watermark);
        record.put("closed_at", watermark);
        record.put("labeller_watermark", watermark);
        record.put("exposures", new ArrayList<GenericRecord>());
        return exposures.encode(record);
    }

    /** A record for the late or dead-letter topic, keeping the raw bytes and where they came from. */
    Output rejected(Output.Sink sink, String reason, RawAction raw, boolean withTime) {
        GenericRecord record = rejected.record();
        record.put("reason", reason);
        record.put("raw_value", ByteBuffer.wrap(raw.value == null ? new byte[0] : raw.value));
        record.put("event_id", withTime ? raw.eventId : null);
        record.put("event_time", withTime ? raw.eventTime : null);
        record.put("source_partition", raw.partition);
        record.put("source_offset", raw.offset);
        return new Output(sink, null, rejected.encode(record));
    }

    static byte[] key(String value) {
        return value == null ? null : value.getBytes(StandardCharsets.UTF_8);
    }
}
