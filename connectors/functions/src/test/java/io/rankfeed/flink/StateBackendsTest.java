package io.rankfeed.flink;

import static io.rankfeed.flink.Actions.back;
import static io.rankfeed.flink.Actions.book;
import static io.rankfeed.flink.Actions.click;
import static io.rankfeed.flink.Actions.hotels;
import static io.rankfeed.flink.Actions.search;
import static io.rankfeed.flink.Configs.GAP;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.junit.jupiter.api.Test;

/**
 * {@code labelling_state_backend}: RocksDB keeps only what the labeller writes back, the heap keeps
 * the objects it mutates. The same actions must give the same outputs on both, across a snapshot
 * and restore in the middle of a session.
 */
class StateBackendsTest {

    private static final List<RawAction> BEFORE_SNAPSHOT = List.of(
            search("e1", 0, "q1", hotels(5)).raw(),
            click("e2", 10_000, "q1", "h2", 2).raw(),
            back("e3", 15_000).raw(), // a quick-back, decided by a timer
            click("e4", 20_000, "q1", "h3", 3).raw());
    private static final RawAction LATE_DUPLICATE = click("e2", 10_500, "q1", "h2", 2).raw();
    private static final List<RawAction> AFTER_RESTORE = List.of(
            book("e5", 60_000, "q1", "h3", 3).raw(),
            click("e5", 61_000, "q1", "h3", 3).raw()); // a duplicate id

    /** Every output, decoded, with its sink; a restore from a snapshot halfway. */
    private static List<String> run(StateBackend backend) throws Exception {
        List<String> outputs = new ArrayList<>();
        OperatorSubtaskState state;
        try (Labeller labeller = new Labeller(Configs.defaults(), null, backend)) {
            BEFORE_SNAPSHOT.forEach(raw -> send(labeller, raw));
            labeller.watermark(21_000);
            labeller.send(LATE_DUPLICATE);
            labeller.watermark(25_000);
            state = labeller.snapshot(1, 1);
            collect(labeller, outputs);
        }
        try (Labeller restored = new Labeller(Configs.defaults(), state, backend)) {
            AFTER_RESTORE.forEach(raw -> send(restored, raw));
            restored.watermark(60_000 + GAP);
            collect(restored, outputs);
        }
        return outputs;
    }

    private static void send(Labeller labeller, RawAction raw) {
        try {
            labeller.send(raw);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static void collect(Labeller labeller, List<String> outputs) {
        for (Output output : labeller.outputs()) {
            Map<String, Object> record = output.sink == Output.Sink.CLEAN ? Map.of() : Records.decode(output);
            outputs.add(output.sink + " " + record.entrySet().stream()
                    .map(e -> e.getKey() + "=" + (e.getValue() instanceof byte[]
                            ? Arrays.toString((byte[]) e.getValue()) : e.getValue()))
                    .collect(Collectors.joining(", ")));
        }
    }

    @Test
    void rocksDbGivesTheHeapsOutputs() throws Exception {
        List<String> heap = run(new HashMapStateBackend());
        List<String> rocksDb = run(new EmbeddedRocksDBStateBackend());
        assertEquals(heap, rocksDb);
        String summary = heap.stream().filter(line -> line.startsWith("SESSIONS")).findFirst().orElseThrow();
        assertEquals(true, summary.contains("quick_backs=1"), summary);
        assertEquals(true, summary.contains("books=1"), summary);
    }
}
