package io.rankfeed.flink;

import java.io.IOException;
import java.util.Map;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** The θ estimator's state, both methods side by side; kept on the heap, written only by checkpoints. */
final class PropensityState {
    final MethodCounts randomized;
    final MethodCounts em;

    PropensityState(int positions) {
        randomized = new MethodCounts(positions);
        em = new MethodCounts(positions);
    }

    /** Writes the maps and arrays field by field: no Kryo ({@link HeapStateSerializer}). */
    static final class Serializer extends HeapStateSerializer<PropensityState> {
        private static final long serialVersionUID = 1L;

        @Override
        public PropensityState createInstance() {
            return new PropensityState(0);
        }

        @Override
        public void serialize(PropensityState state, DataOutputView out) throws IOException {
            out.writeInt(state.em.positions);
            write(state.randomized, out);
            write(state.em, out);
        }

        @Override
        public PropensityState deserialize(DataInputView in) throws IOException {
            PropensityState state = new PropensityState(in.readInt());
            read(state.randomized, in);
            read(state.em, in);
            return state;
        }

        @Override
        public TypeSerializerSnapshot<PropensityState> snapshotConfiguration() {
            return new Snapshot();
        }

        private static void write(MethodCounts m, DataOutputView out) throws IOException {
            out.writeLong(m.updated);
            doubles(m.impressions, out);
            doubles(m.clicks, out);
            doubles(m.theta, out);
            pairs(m.pairs, out);
            out.writeInt(m.pending.size());
            for (Map.Entry<Long, MethodCounts.Window> window : m.pending.entrySet()) {
                out.writeLong(window.getKey());
                pair(window.getValue().totals, out);
                pairs(window.getValue().pairs, out);
            }
            out.writeLong(m.foldedAt);
            out.writeLong(m.pointAt);
            out.writeInt(m.points);
            out.writeLong(m.publishedAtMs);
        }

        private static void read(MethodCounts m, DataInputView in) throws IOException {
            m.updated = in.readLong();
            m.impressions = doubles(in);
            m.clicks = doubles(in);
            m.theta = doubles(in);
            pairs(m.pairs, m.positions, in);
            for (int w = in.readInt(); w > 0; w--) {
                MethodCounts.Window window = new MethodCounts.Window(m.positions);
                m.pending.put(in.readLong(), window);
                pair(window.totals, in);
                pairs(window.pairs, m.positions, in);
            }
            m.foldedAt = in.readLong();
            m.pointAt = in.readLong();
            m.points = in.readInt();
            m.publishedAtMs = in.readLong();
        }

        private static void pairs(Map<String, MethodCounts.Pair> pairs, DataOutputView out) throws IOException {
            out.writeInt(pairs.size());
            for (Map.Entry<String, MethodCounts.Pair> entry : pairs.entrySet()) {
                out.writeUTF(entry.getKey());
                pair(entry.getValue(), out);
            }
        }

        private static void pairs(Map<String, MethodCounts.Pair> pairs, int positions, DataInputView in)
                throws IOException {
            for (int p = in.readInt(); p > 0; p--) {
                String key = in.readUTF();
                MethodCounts.Pair pair = new MethodCounts.Pair(positions);
                pair(pair, in);
                pairs.put(key, pair);
            }
        }

        private static void pair(MethodCounts.Pair pair, DataOutputView out) throws IOException {
            out.writeLong(pair.updated);
            doubles(pair.impressions, out);
            doubles(pair.clicks, out);
            out.writeDouble(pair.gamma);
        }

        private static void pair(MethodCounts.Pair pair, DataInputView in) throws IOException {
            pair.updated = in.readLong();
            pair.impressions = doubles(in);
            pair.clicks = doubles(in);
            pair.gamma = in.readDouble();
        }

        private static void doubles(double[] values, DataOutputView out) throws IOException {
            out.writeInt(values.length);
            for (double value : values) {
                out.writeDouble(value);
            }
        }

        private static double[] doubles(DataInputView in) throws IOException {
            double[] values = new double[in.readInt()];
            for (int i = 0; i < values.length; i++) {
                values[i] = in.readDouble();
            }
            return values;
        }
    }

    /** Restores the serializer by name; the format has one version. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<PropensityState> {
        public Snapshot() {
            super(Serializer::new);
        }
    }
}
