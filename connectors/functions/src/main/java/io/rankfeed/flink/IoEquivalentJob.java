package io.rankfeed.flink;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The benchmark's I/O-equivalent baseline: the labelling job's source, watermarks, keyBy and one
 * exactly-once sink, writing about the same number and size of records per action to the same
 * topics, with no labelling logic. Per action (the benchmark traffic's measured fan-out): the raw
 * bytes to the clean topic; per search, one exposures-sized record (its own bytes) and
 * {@link #EXAMPLES_PER_SEARCH} LTR-sized records; per click or book, one feedback-sized record; per
 * {@link #ACTIONS_PER_SESSION} actions, one summary-sized record. The payloads are filler bytes:
 * these topics are for the benchmark only.
 */
public final class IoEquivalentJob {
    static final int EXAMPLES_PER_SEARCH = 8;
    static final int ACTIONS_PER_SESSION = 5;
    private static final byte[] LTR = filler(190);
    private static final byte[] FEEDBACK = filler(167);
    private static final byte[] SUMMARY = filler(78);

    private IoEquivalentJob() {}

    public static void build(StreamExecutionEnvironment env, String configJson) {
        LabellingConfig config = LabellingConfig.parse(configJson);
        env.fromSource(LabellingJob.source(config), LabellingJob.watermarks(config), "user-actions")
                .uid("user-actions-source")
                .filter(action -> action.sessionKey != null)
                .keyBy(action -> action.sessionKey)
                .process(new Copies())
                .name("io-equivalent-copies")
                .sinkTo(LabellingJob.sink(config))
                .name("labelling-topics");
    }

    /** The records the labelling job would write for one action, as copies and filler. */
    static final class Copies extends ProcessFunction<RawAction, Output> {
        private static final long serialVersionUID = 1L;
        private transient LeadingFields.Reader reader;

        @Override
        public void processElement(RawAction action, Context ctx, Collector<Output> out) {
            byte[] key = action.sessionId.getBytes(StandardCharsets.UTF_8);
            out.collect(new Output(Output.Sink.CLEAN, key, action.value));
            if (reader == null) {
                reader = new LeadingFields.Reader();
            }
            String type = reader.actionType(action.value);
            if ("search".equals(type)) {
                out.collect(new Output(Output.Sink.EXPOSURES, key, action.value));
                for (int i = 0; i < EXAMPLES_PER_SEARCH; i++) {
                    out.collect(new Output(Output.Sink.LTR, key, LTR));
                }
            } else if ("click".equals(type) || "book".equals(type)) {
                out.collect(new Output(Output.Sink.FEEDBACK, key, FEEDBACK));
            }
            if (Math.floorMod(action.eventId.hashCode(), ACTIONS_PER_SESSION) == 0) {
                out.collect(new Output(Output.Sink.SESSIONS, key, SUMMARY));
            }
        }
    }

    private static byte[] filler(int size) {
        byte[] bytes = new byte[size];
        Arrays.fill(bytes, (byte) 'x');
        return bytes;
    }
}
