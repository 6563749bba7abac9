package io.rankfeed.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/** Builds UserAction bytes against the contract, wrapped in {@link RawAction}s as the Kafka source makes them. */
final class Actions {
    static final Schema USER_ACTION = Contract.avroSchema(Contract.USER_ACTION);
    private static final Schema IMPRESSION =
            USER_ACTION.getField("impressions").schema().getTypes().get(1).getElementType();
    static final String SESSION = "s1";
    static final String USER = "u1";
    static final String DEVICE = "web";
    private static long nextOffset;

    private Actions() {}

    /** One hotel of a result list. */
    static final class Hotel {
        final String id;
        final int position;
        final Double price;
        final Double rating;

        Hotel(String id, int position, Double price, Double rating) {
            this.id = id;
            this.position = position;
            this.price = price;
            this.rating = rating;
        }
    }

    static Hotel hotel(String id, int position, Double price, Double rating) {
        return new Hotel(id, position, price, rating);
    }

    /** h1..hn at positions 1..n, price 100·i, rating 3.0 + i/10. */
    static Hotel[] hotels(int n) {
        Hotel[] hotels = new Hotel[n];
        for (int i = 1; i <= n; i++) {
            hotels[i - 1] = hotel("h" + i, i, 100.0 * i, 3.0 + i / 10.0);
        }
        return hotels;
    }

    /** A UserAction record under construction; required fields set, optional ones null. */
    static final class Builder {
        final GenericData.Record record = new GenericData.Record(USER_ACTION);
        private int partition;

        Builder set(String field, Object value) {
            record.put(field, value);
            return this;
        }

        Builder session(String sessionId) {
            return set("session_id", sessionId);
        }

        Builder searchId(String searchId) {
            return set("search_id", searchId);
        }

        Builder hotel(String hotelId, Integer position) {
            return set("hotel_id", hotelId).set("position", position);
        }

        Builder duration(double seconds) {
            return set("duration", seconds);
        }

        Builder randomized(boolean randomized) {
            return set("ranking_randomized", randomized);
        }

        Builder partition(int partition) {
            this.partition = partition;
            return this;
        }

        Builder impressions(Hotel... hotels) {
            List<GenericRecord> items = new ArrayList<>();
            for (Hotel hotel : hotels) {
                GenericData.Record item = new GenericData.Record(IMPRESSION);
                item.put("hotel_id", hotel.id);
                item.put("position", hotel.position);
                item.put("price", hotel.price);
                item.put("rating", hotel.rating);
                items.add(item);
            }
            return set("impressions", items);
        }

        long time() {
            return (Long) record.get("timestamp");
        }

        String eventId() {
            return (String) record.get("event_id");
        }

        byte[] bytes() {
            return encode(record);
        }

        /** As {@link RawActionDeserializer} makes it: leading fields read from the bytes. */
        RawAction raw() {
            return rawOf(bytes(), partition);
        }
    }

    static Builder action(String eventId, String type, long timeMs) {
        return new Builder()
                .set("event_id", eventId)
                .set("schema_version", 1)
                .set("user_id", USER)
                .set("session_id", SESSION)
                .set("timestamp", timeMs)
                .set("action_type", type)
                .set("device", DEVICE);
    }

    static Builder search(String eventId, long timeMs, String searchId, Hotel... hotels) {
        return action(eventId, "search", timeMs).searchId(searchId).set("query", "paris").impressions(hotels);
    }

    static Builder click(String eventId, long timeMs, String searchId, String hotelId, int position) {
        return action(eventId, "click", timeMs).searchId(searchId).hotel(hotelId, position);
    }

    static Builder book(String eventId, long timeMs, String searchId, String hotelId, int position) {
        return action(eventId, "book", timeMs).searchId(searchId).hotel(hotelId, position);
    }

    static Builder back(String eventId, long timeMs) {
        return action(eventId, "back", timeMs);
    }

    static Builder scroll(String eventId, long timeMs, String searchId, int depth) {
        return action(eventId, "scroll", timeMs).searchId(searchId).set("scroll_depth", depth);
    }

    static byte[] encode(GenericRecord record) {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(buffer, null);
        try {
            new GenericDatumWriter<GenericRecord>(record.getSchema()).write(record, encoder);
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return buffer.toByteArray();
    }

    /** Kafka bytes as the source wraps them; sessionId and eventTime from the leading fields (null/0 when unreadable). */
    static RawAction rawOf(byte[] bytes, int partition) {
        return new RawAction(bytes, partition, nextOffset++, new LeadingFields.Reader().read(bytes));
    }

    /** Bytes whose leading fields decode but which are not a complete UserAction. */
    static RawAction poison(byte[] bytes, String sessionId, long eventTime) {
        RawAction raw = new RawAction();
        raw.value = bytes;
        raw.partition = 3;
        raw.offset = 42;
        raw.sessionId = sessionId;
        raw.eventTime = eventTime;
        return raw;
    }
}
