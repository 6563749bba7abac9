package io.rankfeed.flink;

import java.io.Serializable;

/**
 * θ_k, the probability that position k is examined, as the job was given it: the propensity table
 * of the submission when there is one (estimated by the stream or offline), otherwise the default
 * curve (1/k)^η. The features job debiases hotel features with the same table the labelling job
 * weights LTR examples with.
 */
final class Examination implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The table's θ (θ_1 first), or null when the job runs without a propensity table. */
    final double[] table;
    private final double eta;

    Examination(double[] table, double eta) {
        this.table = table;
        this.eta = eta;
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
