package io.rankfeed.flink;

import java.util.Arrays;
import org.apache.flink.table.functions.FunctionContext;

/**
 * θ_k, the probability that position k is examined, as the job was given it: the propensity table
 * of the submission when there is one (estimated by the stream or offline), otherwise the default
 * curve (1/k)^η. One copy, so IPS weights on LTR examples and the debiased hotel features always
 * use the same θ.
 */
final class Examination {
    static final String PREFIX = "rankfeed.labels.";

    /** The table's θ (θ_1 first), or null when the job runs without a propensity table. */
    final double[] table;
    private final double eta;

    private Examination(double[] table, double eta) {
        this.table = table;
        this.eta = eta;
    }

    static Examination fromJobParameters(FunctionContext context, double eta) {
        if (context.getJobParameter(PREFIX + "propensity-version", null) == null) {
            return new Examination(null, eta);
        }
        double[] theta = Arrays.stream(context.getJobParameter(PREFIX + "propensity-theta", "1.0").split(";"))
                .mapToDouble(Double::parseDouble)
                .toArray();
        return new Examination(theta, eta);
    }

    /** θ at {@code position}; positions past the table's end take its last value. */
    double theta(int position) {
        int k = Math.max(position, 1);
        if (table == null) {
            return Math.pow(1.0 / k, eta);
        }
        return table[Math.min(k, table.length) - 1];
    }
}
