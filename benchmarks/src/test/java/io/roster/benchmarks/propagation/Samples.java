package io.roster.benchmarks.propagation;

import java.util.Arrays;
import java.util.Locale;

/** Latencies of one kind, in nanoseconds, and their percentiles (nearest rank). */
final class Samples {
    private long[] nanos = new long[64];
    private int count;

    void add(long value) {
        if (count == nanos.length) {
            nanos = Arrays.copyOf(nanos, count * 2);
        }
        nanos[count++] = value;
    }

    int count() {
        return count;
    }

    /**
     * Returns a percentile by nearest rank: the smallest sample with at least {@code p} % of the samples at or
     * below it.
     *
     * @param p 0 < p ≤ 100
     * @return nanoseconds, or NaN without samples
     */
    double percentile(double p) {
        if (count == 0) {
            return Double.NaN;
        }
        long[] sorted = Arrays.copyOf(nanos, count);
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * count);
        return sorted[Math.max(0, Math.min(count, rank) - 1)];
    }

    double p50() {
        return percentile(50);
    }

    /** {@code p50 / p90 / p99} in milliseconds, or a dash without samples. */
    String summary() {
        if (count == 0) {
            return "—";
        }
        return ms(percentile(50)) + " / " + ms(percentile(90)) + " / " + ms(percentile(99));
    }

    /**
     * Formats nanoseconds as milliseconds with three significant digits or so.
     *
     * @param nanos the time
     * @return such as {@code 3.69}, {@code 47.2} or {@code 2630}
     */
    static String ms(double nanos) {
        if (Double.isNaN(nanos)) {
            return "—";
        }
        double ms = nanos / 1e6;
        return String.format(Locale.ROOT, ms < 10 ? "%.2f" : ms < 100 ? "%.1f" : "%.0f", ms);
    }
}
