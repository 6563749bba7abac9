package io.rankfeed.flink;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;

/**
 * {@link SessionLabellerFunction} in Flink's keyed two-input operator test harness, keyed as the job keys it:
 * the actions are the first input, the broadcast erased users the second. The second input is idle from the
 * start, as the job's erasure-requests source keeps it ({@link ErasureRequests#noEventTime()}), so the
 * watermarks sent are the labeller's. (Not {@code ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction}:
 * it opens the operator at once, before a state backend or a snapshot to restore can be set, and does not
 * count keyed state entries.)
 */
final class Labeller implements AutoCloseable {
    final KeyedTwoInputStreamOperatorTestHarness<String, RawAction, String, Output> harness;

    Labeller(LabellingConfig config) throws Exception {
        this(config, null);
    }

    /** A new operator instance; restored from {@code state} when it is not null. */
    Labeller(LabellingConfig config, OperatorSubtaskState state) throws Exception {
        this(config, state, null);
    }

    /** As above, on {@code backend} (the harness's heap backend when null). */
    Labeller(LabellingConfig config, OperatorSubtaskState state, StateBackend backend) throws Exception {
        harness = new KeyedTwoInputStreamOperatorTestHarness<>(
                new CoBroadcastWithKeyedOperator<>(new SessionLabellerFunction(config), List.of(ErasedUsers.ERASED)),
                LabellingJob::sessionKey, null, Types.STRING); // the broadcast input is not keyed, as in the job
        if (backend != null) {
            harness.setStateBackend(backend);
        }
        if (state != null) {
            harness.initializeState(state);
        }
        harness.open();
        harness.processWatermarkStatus2(WatermarkStatus.IDLE);
    }

    Labeller send(Actions.Builder... actions) throws Exception {
        for (Actions.Builder action : actions) {
            send(action.raw());
        }
        return this;
    }

    Labeller send(RawAction raw) throws Exception {
        harness.processElement1(raw, raw.eventTime);
        return this;
    }

    /** An erasure request for {@code user} read from the topic. */
    Labeller erase(String user) throws Exception {
        harness.processElement2(user, 0);
        return this;
    }

    /** The actions' watermark. */
    Labeller watermark(long ms) throws Exception {
        harness.processWatermark1(new Watermark(ms));
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
