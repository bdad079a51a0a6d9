package io.roster.select;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The call statistics of one node, shared by every {@link Node} object that stands for the same instance and
 * endpoint, so that they outlive list updates. Maintained only for balancers that ask for them
 * ({@link Balancer#tracksLoad()}).
 *
 * <p>Latency and success are Kratos's time-decayed moving averages: each completion moves them towards its sample
 * by {@code 1 - exp(-elapsed / tau)}, elapsed being the time since the node's previous completion, so a node
 * heard from rarely is judged by its newest call. The fields are updated without a lock; two completions racing
 * on one node may drop one sample from the averages (never from the in-flight count), which an estimate can
 * afford and which keeps {@code done()} wait-free.
 */
final class NodeStats {
    /** Kratos's tau: the averages forget a sample to 1/e in 600 ms. */
    static final double TAU_NANOS = 600e6;

    private static final VarHandle IN_FLIGHT;
    private static final VarHandle STAMP;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            IN_FLIGHT = lookup.findVarHandle(NodeStats.class, "inFlight", long.class);
            STAMP = lookup.findVarHandle(NodeStats.class, "stampNanos", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private volatile long inFlight;
    /** Moving average of the latency in nanoseconds; 0 until the first completion. */
    private volatile long latencyNanos;
    /** Moving average of the success rate, 1.0 = every call succeeded. */
    private volatile double success = 1.0;
    /** {@link System#nanoTime()} of the last pick. */
    private volatile long lastPickNanos;
    /** {@link System#nanoTime()} of the last completion. */
    private volatile long stampNanos;

    /**
     * @param lastPickNanos when the node counts as last picked; P2C force-picks a node not picked for a while,
     *     so a new node starts out "long ago" to be tried soon, as in Kratos
     */
    NodeStats(long lastPickNanos) {
        this.lastPickNanos = lastPickNanos;
        this.stampNanos = lastPickNanos;
    }

    void begin(long now) {
        IN_FLIGHT.getAndAdd(this, 1L);
        lastPickNanos = now;
    }

    void end(long now, long latency, boolean ok) {
        IN_FLIGHT.getAndAdd(this, -1L);
        long elapsed = Math.max(0L, now - (long) STAMP.getAndSet(this, now));
        long oldLatency = latencyNanos;
        // The first sample replaces the "no data" state outright, as Kratos does.
        double keep = oldLatency == 0 ? 0.0 : Math.exp(-elapsed / TAU_NANOS);
        long sample = Math.max(1L, latency);
        latencyNanos = Math.max(1L, (long) (oldLatency * keep + sample * (1.0 - keep)));
        success = success * keep + (ok ? 1.0 - keep : 0.0);
    }

    long inFlight() {
        return inFlight;
    }

    long latencyNanos() {
        return latencyNanos;
    }

    double success() {
        return success;
    }

    long lastPickNanos() {
        return lastPickNanos;
    }
}
