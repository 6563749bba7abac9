package io.rankfeed.flink;

import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.inference.TypeStrategies;

/** What the process table functions share in how they declare themselves to the planner. */
final class Ptf {
    private Ptf() {}

    /**
     * The extracted type inference (arguments, state) with {@code output} as the result type. The
     * output rows are built from the .avsc at runtime, which annotation-based extraction cannot see.
     */
    static TypeInference withOutput(TypeInference extracted, DataType output) {
        TypeInference.Builder builder = TypeInference.newBuilder()
                .inputTypeStrategy(extracted.getInputTypeStrategy())
                .stateTypeStrategies(extracted.getStateTypeStrategies())
                .outputTypeStrategy(TypeStrategies.explicit(output));
        extracted.getStaticArguments().ifPresent(builder::staticArguments);
        return builder.build();
    }
}
