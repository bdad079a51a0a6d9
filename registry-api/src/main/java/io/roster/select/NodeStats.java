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
 * afford and which keeps {@code done()} wait-free. For the same reason only the in-flight count is updated atomically;
 * the other fields are written with release stores, which on x86 cost no fence.
 */
final class NodeStats {
    /** Kratos's tau: the averages forget a sample to 1/e in 600 ms. */
    static final double TAU_NANOS = 600e6;

    private static final VarHandle IN_FLIGHT;
    private static final VarHandle LATENCY;
    private static final VarHandle SUCCESS;
    private static final VarHandle LAST_PICK;
    private static final VarHandle STAMP;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            IN_FLIGHT = lookup.findVarHandle(NodeStats.class, "inFlight", long.class);
            LATENCY = lookup.findVarHandle(NodeStats.class, "latencyNanos", long.class);
            SUCCESS = lookup.findVarHandle(NodeStats.class, "success", double.class);
            LAST_PICK = lookup.findVarHandle(NodeStats.class, "lastPickNanos", long.class);
            STAMP = lookup.findVarHandle(NodeStats.class, "stampNanos", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // Accessed through the VarHandles above only (acquire/release), published safely by the selector's update.
    private long inFlight;
    /** Moving average of the latency in nanoseconds; 0 until the first completion. */
    private long latencyNanos;
    /** Moving average of the success rate, 1.0 = every call succeeded. */
    private double success = 1.0;
    /** {@link System#nanoTime()} of the last pick. */
    private long lastPickNanos;
    /** {@link System#nanoTime()} of the last completion. */
    private long stampNanos;

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
        LAST_PICK.setRelease(this, now);
    }

    void end(long now, long latency, boolean ok) {
        IN_FLIGHT.getAndAdd(this, -1L);
        long elapsed = Math.max(0L, now - (long) STAMP.getAcquire(this));
        STAMP.setRelease(this, now);
        long oldLatency = latencyNanos();
        // The first sample replaces the "no data" state outright, as Kratos does.
        double keep = oldLatency == 0 ? 0.0 : Math.exp(-elapsed / TAU_NANOS);
        long sample = Math.max(1L, latency);
        LATENCY.setRelease(this, Math.max(1L, Math.round(oldLatency * keep + sample * (1.0 - keep))));
        SUCCESS.setRelease(this, success() * keep + (ok ? 1.0 - keep : 0.0));
    }

    long inFlight() {
        return (long) IN_FLIGHT.getAcquire(this);
    }

    long latencyNanos() {
        return (long) LATENCY.getAcquire(this);
    }

    double success() {
        return (double) SUCCESS.getAcquire(this);
    }

    long lastPickNanos() {
        return (long) LAST_PICK.getAcquire(this);
    }
}
