package io.rankfeed.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * Writes a {@link LabellingSession} field by field for snapshots, and copies it for the heap backend's
 * copy-on-write during an asynchronous snapshot. Without it the state falls back to Kryo, which
 * measured ~9 % of the labeller's CPU (reference tracking, reflection, a full graph copy per access).
 *
 * <p>The layout is versioned by its snapshot class; a field added to the session must be added here
 * and a new snapshot class (with its migration) added. A round-trip test covers every field.
 * Layout 2 ({@link Snapshot2}) keeps the result lists out of the session, by key ({@link
 * ResultListStore}); layout 1 ({@link Snapshot}) held them inline and is still read ({@link Layout1}).
 */
final class LabellingSessionSerializer extends HeapStateSerializer<LabellingSession> {
    private static final long serialVersionUID = 1L;
    static final LabellingSessionSerializer INSTANCE = new LabellingSessionSerializer();

    @Override
    public LabellingSession createInstance() {
        return new LabellingSession();
    }

    @Override
    public void serialize(LabellingSession s, DataOutputView out) throws IOException {
        writeLayout1(s, out);
        out.writeInt(s.listKeys.size());
        for (String key : s.listKeys) {
            Strings.write(key, out);
        }
    }

    @Override
    public LabellingSession deserialize(DataInputView in) throws IOException {
        LabellingSession s = readLayout1(in);
        for (int i = in.readInt(); i > 0; i--) {
            s.listKeys.add(Strings.read(in));
        }
        return s;
    }

    @Override
    public TypeSerializerSnapshot<LabellingSession> snapshotConfiguration() {
        return new Snapshot2();
    }

    /** Layout 1's fields; the inline lists are those not moved to the store yet (none but after a migration). */
    private static void writeLayout1(LabellingSession s, DataOutputView out) throws IOException {
        out.writeBoolean(s.open);
        Strings.write(s.sessionId, out);
        Strings.write(s.userId, out);
        Strings.write(s.device, out);
        out.writeLong(s.start);
        out.writeLong(s.end);
        out.writeInt(s.actions);
        out.writeInt(s.searches);
        out.writeInt(s.clicks);
        out.writeInt(s.books);
        out.writeInt(s.quickBacks);
        out.writeLong(s.timer);
        out.writeInt(s.inlineLists.size());
        for (ResultList list : s.inlineLists) {
            writeList(list, out);
        }
        out.writeBoolean(s.openClick != null);
        if (s.openClick != null) {
            writeClick(s.openClick, out);
        }
        out.writeInt(s.pending.actions.size());
        for (Action action : s.pending.actions) {
            writeAction(action, out);
        }
        out.writeInt(s.seen.size());
        for (String id : s.seen) {
            Strings.write(id, out);
        }
    }

    private static LabellingSession readLayout1(DataInputView in) throws IOException {
        LabellingSession s = new LabellingSession();
        s.open = in.readBoolean();
        s.sessionId = Strings.read(in);
        s.userId = Strings.read(in);
        s.device = Strings.read(in);
        s.start = in.readLong();
        s.end = in.readLong();
        s.actions = in.readInt();
        s.searches = in.readInt();
        s.clicks = in.readInt();
        s.books = in.readInt();
        s.quickBacks = in.readInt();
        s.timer = in.readLong();
        for (int i = in.readInt(); i > 0; i--) {
            s.inlineLists.add(readList(in));
        }
        if (in.readBoolean()) {
            s.openClick = readClick(in);
        }
        for (int i = in.readInt(); i > 0; i--) {
            s.pending.actions.add(readAction(in));
        }
        for (int i = in.readInt(); i > 0; i--) {
            s.seen.add(Strings.read(in));
        }
        return s;
    }

    static void writeList(ResultList list, DataOutputView out) throws IOException {
        Strings.write(list.searchId, out);
        out.writeLong(list.time);
        Strings.write(list.query, out);
        Nullable.writeBoolean(list.randomized, out);
        Nullable.writeInt(list.scrollDepth, out);
        writeShown(list.shown, out);
        out.writeInt(list.outcomes.size());
        for (ResultList.Outcome outcome : list.outcomes) {
            Strings.write(outcome.hotelId, out);
            out.writeBoolean(outcome.clicked);
            out.writeBoolean(outcome.kept);
            out.writeBoolean(outcome.booked);
            Nullable.writeDouble(outcome.dwellSeconds, out);
        }
    }

    static ResultList readList(DataInputView in) throws IOException {
        ResultList list = new ResultList();
        list.searchId = Strings.read(in);
        list.time = in.readLong();
        list.query = Strings.read(in);
        list.randomized = Nullable.readBoolean(in);
        list.scrollDepth = Nullable.readInt(in);
        list.shown.addAll(List.of(readShown(in)));
        for (int i = in.readInt(); i > 0; i--) {
            ResultList.Outcome outcome = new ResultList.Outcome();
            outcome.hotelId = Strings.read(in);
            outcome.clicked = in.readBoolean();
            outcome.kept = in.readBoolean();
            outcome.booked = in.readBoolean();
            outcome.dwellSeconds = Nullable.readDouble(in);
            list.outcomes.add(outcome);
        }
        return list;
    }

    private static void writeClick(LabellingSession.OpenClick click, DataOutputView out) throws IOException {
        Strings.write(click.eventId, out);
        Strings.write(click.searchId, out);
        Strings.write(click.hotelId, out);
        Nullable.writeInt(click.position, out);
        out.writeLong(click.time);
        Nullable.writeDouble(click.clientDuration, out);
        out.writeBoolean(click.decided);
    }

    private static LabellingSession.OpenClick readClick(DataInputView in) throws IOException {
        LabellingSession.OpenClick click = new LabellingSession.OpenClick();
        click.eventId = Strings.read(in);
        click.searchId = Strings.read(in);
        click.hotelId = Strings.read(in);
        click.position = Nullable.readInt(in);
        click.time = in.readLong();
        click.clientDuration = Nullable.readDouble(in);
        click.decided = in.readBoolean();
        return click;
    }

    private static void writeAction(Action a, DataOutputView out) throws IOException {
        Strings.write(a.eventId, out);
        out.writeLong(a.time);
        out.writeInt(a.raw.length);
        out.write(a.raw);
        out.writeInt(a.sourcePartition);
        out.writeLong(a.sourceOffset);
        Strings.write(a.sessionId, out);
        Strings.write(a.type, out);
        Strings.write(a.userId, out);
        Strings.write(a.device, out);
        Strings.write(a.searchId, out);
        Strings.write(a.query, out);
        Strings.write(a.hotelId, out);
        Nullable.writeInt(a.position, out);
        Nullable.writeDouble(a.duration, out);
        Nullable.writeInt(a.scrollDepth, out);
        Nullable.writeBoolean(a.randomized, out);
        writeShown(List.of(a.shown), out);
    }

    private static Action readAction(DataInputView in) throws IOException {
        Action a = new Action();
        a.eventId = Strings.read(in);
        a.time = in.readLong();
        a.raw = new byte[in.readInt()];
        in.readFully(a.raw);
        a.sourcePartition = in.readInt();
        a.sourceOffset = in.readLong();
        a.sessionId = Strings.read(in);
        a.type = Strings.read(in);
        a.userId = Strings.read(in);
        a.device = Strings.read(in);
        a.searchId = Strings.read(in);
        a.query = Strings.read(in);
        a.hotelId = Strings.read(in);
        a.position = Nullable.readInt(in);
        a.duration = Nullable.readDouble(in);
        a.scrollDepth = Nullable.readInt(in);
        a.randomized = Nullable.readBoolean(in);
        a.shown = readShown(in);
        return a;
    }

    private static void writeShown(List<Action.Shown> shown, DataOutputView out) throws IOException {
        out.writeInt(shown.size());
        for (Action.Shown item : shown) {
            Strings.write(item.hotelId, out);
            out.writeInt(item.position);
            Nullable.writeDouble(item.price, out);
            Nullable.writeDouble(item.rating, out);
        }
    }

    private static Action.Shown[] readShown(DataInputView in) throws IOException {
        Action.Shown[] shown = new Action.Shown[in.readInt()];
        for (int i = 0; i < shown.length; i++) {
            shown[i] = new Action.Shown(
                    Strings.read(in), in.readInt(), Nullable.readDouble(in), Nullable.readDouble(in));
        }
        return shown.length == 0 ? Action.Shown.NONE : shown;
    }

    /**
     * Strings as a length and UTF-8 bytes, in one bulk write: Flink's {@code StringValue} writes
     * char by char, which profiled as the largest cost of the snapshot. Null is length -1.
     */
    private static final class Strings {
        static void write(String value, DataOutputView out) throws IOException {
            if (value == null) {
                out.writeInt(-1);
                return;
            }
            byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
            out.writeInt(bytes.length);
            out.write(bytes);
        }

        static String read(DataInputView in) throws IOException {
            int length = in.readInt();
            if (length < 0) {
                return null;
            }
            byte[] bytes = new byte[length];
            in.readFully(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    /** Boxed values that may be null: a presence byte, then the value. */
    private static final class Nullable {
        static void writeInt(Integer value, DataOutputView out) throws IOException {
            out.writeBoolean(value != null);
            if (value != null) {
                out.writeInt(value);
            }
        }

        static Integer readInt(DataInputView in) throws IOException {
            return in.readBoolean() ? in.readInt() : null;
        }

        static void writeDouble(Double value, DataOutputView out) throws IOException {
            out.writeBoolean(value != null);
            if (value != null) {
                out.writeDouble(value);
            }
        }

        static Double readDouble(DataInputView in) throws IOException {
            return in.readBoolean() ? in.readDouble() : null;
        }

        static void writeBoolean(Boolean value, DataOutputView out) throws IOException {
            out.writeByte(value == null ? 2 : value ? 1 : 0);
        }

        static Boolean readBoolean(DataInputView in) throws IOException {
            byte b = in.readByte();
            return b == 2 ? null : b == 1;
        }
    }

    /** Layout 1: the result lists inline. Read when restoring a snapshot taken before layout 2, then migrated. */
    static final class Layout1 extends HeapStateSerializer<LabellingSession> {
        private static final long serialVersionUID = 1L;
        static final Layout1 INSTANCE = new Layout1();

        @Override
        public LabellingSession createInstance() {
            return new LabellingSession();
        }

        @Override
        public void serialize(LabellingSession s, DataOutputView out) throws IOException {
            if (s.inlineLists.size() != s.listKeys.size()) {
                throw new IllegalStateException("layout 1 holds result lists inline only; write layout 2");
            }
            writeLayout1(s, out);
        }

        /** The inline lists are named as the session's lists; {@link LabellingSession#attach} moves them to the store. */
        @Override
        public LabellingSession deserialize(DataInputView in) throws IOException {
            LabellingSession s = readLayout1(in);
            for (ResultList list : s.inlineLists) {
                s.listKeys.add(list.searchId);
            }
            return s;
        }

        @Override
        public TypeSerializerSnapshot<LabellingSession> snapshotConfiguration() {
            return new Snapshot();
        }
    }

    /** Layout 1 (the result lists inline); its name is in snapshots taken before layout 2. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<LabellingSession> {
        public Snapshot() {
            super(() -> Layout1.INSTANCE);
        }
    }

    /** Layout 2 (the result lists by key); restores layout 1 by migration (read with {@link Layout1}). */
    public static final class Snapshot2 extends SimpleTypeSerializerSnapshot<LabellingSession> {
        public Snapshot2() {
            super(() -> INSTANCE);
        }

        @Override
        public TypeSerializerSchemaCompatibility<LabellingSession> resolveSchemaCompatibility(
                TypeSerializerSnapshot<LabellingSession> oldSnapshot) {
            if (oldSnapshot instanceof Snapshot) {
                return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
            }
            return super.resolveSchemaCompatibility(oldSnapshot);
        }
    }
}
