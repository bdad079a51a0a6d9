package io.roster.select;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A selector's recent {@link System#nanoTime()}: the last clock read of any of its timed selections, standing in
 * for the time of an untimed one (see {@link Selection}). It lags the clock by a few selections while calls are
 * fast and frequent, which is when selections go untimed; for calls of 20 &micro;s and more it is the last
 * selection's time.
 *
 * <p>The value sits alone in the middle of an array, 128 bytes from anything else, as it is written by every
 * thread that times a selection and must not invalidate the cache line of the fields every {@code select()}
 * reads.
 */
final class RecentTime {
    private static final int SLOT = 16;
    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(long[].class);

    private final long[] slots = new long[2 * SLOT + 1];

    RecentTime() {
        read();
    }

    /** Returns the last time read. */
    long get() {
        return (long) SLOTS.getOpaque(slots, SLOT);
    }

    /** Reads the clock and remembers it. */
    long read() {
        long now = System.nanoTime();
        SLOTS.setOpaque(slots, SLOT, now);
        return now;
    }
}
