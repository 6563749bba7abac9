package io.rankfeed.flink;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** A {@link ResultList} in map state, in the session serializer's layout for lists (no Kryo). */
final class ResultListSerializer extends HeapStateSerializer<ResultList> {
    private static final long serialVersionUID = 1L;
    static final ResultListSerializer INSTANCE = new ResultListSerializer();

    @Override
    public ResultList createInstance() {
        return new ResultList();
    }

    @Override
    public void serialize(ResultList list, DataOutputView out) throws IOException {
        LabellingSessionSerializer.writeList(list, out);
    }

    @Override
    public ResultList deserialize(DataInputView in) throws IOException {
        return LabellingSessionSerializer.readList(in);
    }

    @Override
    public TypeSerializerSnapshot<ResultList> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Version 1 of the layout. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<ResultList> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
