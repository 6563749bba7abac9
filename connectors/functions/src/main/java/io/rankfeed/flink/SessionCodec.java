package io.rankfeed.flink;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import io.rankfeed.flink.SessionLabeler.OpenClick;
import io.rankfeed.flink.SessionLabeler.Outcome;
import io.rankfeed.flink.SessionLabeler.Pending;
import io.rankfeed.flink.SessionLabeler.Search;
import io.rankfeed.flink.SessionLabeler.Session;
import io.rankfeed.flink.SessionLabeler.Shown;

/**
 * A session's state as one compact byte array, written and read field by field.
 *
 * <p>Savepoints hold these bytes: a change of layout bumps {@link #VERSION} and keeps a reader for
 * the old one, or state from an older savepoint cannot be restored.
 */
final class SessionCodec {
    static final byte VERSION = 1;

    private SessionCodec() {}

    static Session read(byte[] encoded) {
        Session session = new Session();
        if (encoded == null) {
            return session;
        }
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(encoded))) {
            byte version = in.readByte();
            if (version != VERSION) {
                throw new IllegalStateException("session state version " + version + " is not readable by this job");
            }
            session.closeTimer = in.readLong();
            session.open = in.readBoolean();
            session.sessionId = readString(in);
            session.userId = readString(in);
            session.device = readString(in);
            session.start = in.readLong();
            session.end = in.readLong();
            session.actions = in.readInt();
            session.searches = in.readInt();
            session.clicks = in.readInt();
            session.books = in.readInt();
            session.quickBacks = in.readInt();
            session.pending = new Pending[in.readInt()];
            for (int i = 0; i < session.pending.length; i++) {
                Pending pending = new Pending();
                pending.eventId = readText(in);
                pending.time = in.readLong();
                pending.raw = new byte[in.readInt()];
                in.readFully(pending.raw);
                session.pending[i] = pending;
            }
            session.seen = new String[in.readInt()];
            for (int i = 0; i < session.seen.length; i++) {
                session.seen[i] = readText(in);
            }
            session.resultLists = new Search[in.readInt()];
            for (int i = 0; i < session.resultLists.length; i++) {
                session.resultLists[i] = readSearch(in);
            }
            session.openClick = in.readBoolean() ? readClick(in) : null;
            return session;
        } catch (IOException e) {
            throw new UncheckedIOException("unreadable session state", e);
        }
    }

    static byte[] write(Session session) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeByte(VERSION);
            out.writeLong(session.closeTimer);
            out.writeBoolean(session.open);
            writeString(out, session.sessionId);
            writeString(out, session.userId);
            writeString(out, session.device);
            out.writeLong(session.start);
            out.writeLong(session.end);
            out.writeInt(session.actions);
            out.writeInt(session.searches);
            out.writeInt(session.clicks);
            out.writeInt(session.books);
            out.writeInt(session.quickBacks);
            out.writeInt(session.pending.length);
            for (Pending pending : session.pending) {
                writeText(out, pending.eventId);
                out.writeLong(pending.time);
                out.writeInt(pending.raw.length);
                out.write(pending.raw);
            }
            out.writeInt(session.seen.length);
            for (String id : session.seen) {
                writeText(out, id);
            }
            out.writeInt(session.resultLists.length);
            for (Search search : session.resultLists) {
                writeSearch(out, search);
            }
            out.writeBoolean(session.openClick != null);
            if (session.openClick != null) {
                writeClick(out, session.openClick);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static Search readSearch(DataInputStream in) throws IOException {
        Search search = new Search();
        search.searchId = readText(in);
        search.time = in.readLong();
        search.query = readString(in);
        search.randomized = in.readBoolean() ? in.readBoolean() : null;
        search.scrollDepth = in.readBoolean() ? in.readInt() : null;
        search.shown = new Shown[in.readInt()];
        for (int i = 0; i < search.shown.length; i++) {
            Shown shown = new Shown();
            shown.hotelId = readText(in);
            shown.position = in.readInt();
            shown.price = readDouble(in);
            shown.rating = readDouble(in);
            search.shown[i] = shown;
        }
        search.outcomes = new Outcome[in.readInt()];
        for (int i = 0; i < search.outcomes.length; i++) {
            Outcome outcome = new Outcome();
            outcome.hotelId = readText(in);
            outcome.clicked = in.readBoolean();
            outcome.kept = in.readBoolean();
            outcome.booked = in.readBoolean();
            outcome.dwellSeconds = readDouble(in);
            search.outcomes[i] = outcome;
        }
        return search;
    }

    private static void writeSearch(DataOutputStream out, Search search) throws IOException {
        writeText(out, search.searchId);
        out.writeLong(search.time);
        writeString(out, search.query);
        out.writeBoolean(search.randomized != null);
        if (search.randomized != null) {
            out.writeBoolean(search.randomized);
        }
        out.writeBoolean(search.scrollDepth != null);
        if (search.scrollDepth != null) {
            out.writeInt(search.scrollDepth);
        }
        out.writeInt(search.shown.length);
        for (Shown shown : search.shown) {
            writeText(out, shown.hotelId);
            out.writeInt(shown.position);
            writeDouble(out, shown.price);
            writeDouble(out, shown.rating);
        }
        out.writeInt(search.outcomes.length);
        for (Outcome outcome : search.outcomes) {
            writeText(out, outcome.hotelId);
            out.writeBoolean(outcome.clicked);
            out.writeBoolean(outcome.kept);
            out.writeBoolean(outcome.booked);
            writeDouble(out, outcome.dwellSeconds);
        }
    }

    private static OpenClick readClick(DataInputStream in) throws IOException {
        OpenClick click = new OpenClick();
        click.eventId = readText(in);
        click.searchId = readString(in);
        click.hotelId = readString(in);
        click.position = in.readBoolean() ? in.readInt() : null;
        click.time = in.readLong();
        click.clientDuration = readDouble(in);
        click.decided = in.readBoolean();
        return click;
    }

    private static void writeClick(DataOutputStream out, OpenClick click) throws IOException {
        writeText(out, click.eventId);
        writeString(out, click.searchId);
        writeString(out, click.hotelId);
        out.writeBoolean(click.position != null);
        if (click.position != null) {
            out.writeInt(click.position);
        }
        out.writeLong(click.time);
        writeDouble(out, click.clientDuration);
        out.writeBoolean(click.decided);
    }

    /** UTF-8 with an int length: DataOutput's own writeUTF stops at 64 KB, and ids are not bounded here. */
    private static String readText(DataInputStream in) throws IOException {
        byte[] utf8 = new byte[in.readInt()];
        in.readFully(utf8);
        return new String(utf8, StandardCharsets.UTF_8);
    }

    private static void writeText(DataOutputStream out, String value) throws IOException {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    private static String readString(DataInputStream in) throws IOException {
        return in.readBoolean() ? readText(in) : null;
    }

    private static void writeString(DataOutputStream out, String value) throws IOException {
        out.writeBoolean(value != null);
        if (value != null) {
            writeText(out, value);
        }
    }

    private static Double readDouble(DataInputStream in) throws IOException {
        return in.readBoolean() ? in.readDouble() : null;
    }

    private static void writeDouble(DataOutputStream out, Double value) throws IOException {
        out.writeBoolean(value != null);
        if (value != null) {
            out.writeDouble(value);
        }
    }
}
