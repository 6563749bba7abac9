package io.rankfeed.flink;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

/** {@link SessionLabellerFunction} in Flink's keyed operator test harness, keyed as the job keys it. */
final class Labeller implements AutoCloseable {
    final KeyedOneInputStreamOperatorTestHarness<String, RawAction, Output> harness;

    Labeller(LabellingConfig config) throws Exception {
        this(config, null);
    }

    /** A new operator instance; restored from {@code state} when it is not null. */
    Labeller(LabellingConfig config, OperatorSubtaskState state) throws Exception {
        this(config, state, null);
    }

    /** As above, on {@code backend} (the harness's heap backend when null). */
    Labeller(LabellingConfig config, OperatorSubtaskState state, StateBackend backend) throws Exception {
        harness = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new SessionLabellerFunction(config)), LabellingJob::sessionKey, Types.STRING);
        if (backend != null) {
            harness.setStateBackend(backend);
        }
        if (state != null) {
            harness.initializeState(state);
        }
        harness.open();
    }

    Labeller send(Actions.Builder... actions) throws Exception {
        for (Actions.Builder action : actions) {
            send(action.raw());
        }
        return this;
    }

    Labeller send(RawAction raw) throws Exception {
        harness.processElement(raw, raw.eventTime);
        return this;
    }

    Labeller watermark(long ms) throws Exception {
        harness.processWatermark(ms);
        return this;
    }

    List<Output> outputs() {
        return harness.extractOutputValues();
    }

    List<Map<String, Object>> records(Output.Sink sink) {
        return Records.of(outputs(), sink);
    }

    int timers() {
        return harness.numEventTimeTimers();
    }

    int stateEntries() {
        return harness.numKeyedStateEntries();
    }

    OperatorSubtaskState snapshot(long checkpointId, long timestamp) throws Exception {
        return harness.snapshot(checkpointId, timestamp);
    }

    @Override
    public void close() throws Exception {
        harness.close();
    }
}
