package io.roster.spi;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with jitter and no ceiling on attempts: the delay doubles from {@code initial} up to
 * {@code max} and stays there, each delay drawn within ±20 % so that many clients that lost the same server do
 * not come back in lockstep. One instance per retry sequence; not thread-safe.
 */
public final class Backoff {
    private final long initialNanos;
    private final long maxNanos;
    private long current;

    /**
     * Creates a backoff.
     *
     * @param initial the first delay
     * @param max the largest delay
     */
    public Backoff(Duration initial, Duration max) {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("need 0 < initial <= max, was " + initial + " and " + max);
        }
        this.initialNanos = initial.toNanos();
        this.maxNanos = max.toNanos();
        this.current = initialNanos;
    }

    /**
     * The default for reconnecting and re-registering: 100 ms doubling up to 5 s.
     *
     * @return a new backoff
     */
    public static Backoff defaults() {
        return new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
    }

    /**
     * Returns the delay before the next attempt and advances.
     *
     * @return the delay, jittered
     */
    public Duration next() {
        long base = current;
        current = Math.min(maxNanos, current > maxNanos / 2 ? maxNanos : current * 2);
        double factor = ThreadLocalRandom.current().nextDouble(0.8, 1.2);
        return Duration.ofNanos((long) (base * factor));
    }

    /**
     * Starts over from the initial delay, after a success.
     */
    public void reset() {
        current = initialNanos;
    }
}
