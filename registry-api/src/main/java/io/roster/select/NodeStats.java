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
 * afford and which keeps completion wait-free. For the same reason only the in-flight count is updated
 * atomically; the other fields are written with release stores, which on x86 cost no fence.
 *
 * <p>A completion also stores the node's cost, {@code sqrt(latency + 5 ms) / success}, so that a
 * power-of-two-choices pick compares two products instead of computing two square roots and two quotients.
 */
final class NodeStats {
    /** Kratos's tau: the averages forget a sample to 1/e in 600 ms. */
    static final double TAU_NANOS = 600e6;
    /** Added to every latency, to blur the gap between zones (Kratos). */
    static final double LATENCY_FLOOR_NANOS = 5_000_000;
    /**
     * The load factor of a node without a completed call: Kratos's penalty, sqrt of a 10 s latency, so that a new
     * node is tried through the forced pick rather than flooded.
     */
    static final double NO_SAMPLE_LOAD = 100_000;

    private static final double INVERSE_TAU = 1.0 / TAU_NANOS;
    /** Below this elapsed/tau, a cubic stands in for {@code exp(-x)} with an error under 1e-9. */
    private static final double SERIES_LIMIT = 0.01;
    /**
     * Calls to a node whose average latency is at least this are all timed; faster ones are sampled (see
     * {@link Selection}), as two clock reads would then cost a noticeable part of the call.
     */
    static final long TIME_EVERY_CALL_NANOS = 20_000;

    private static final VarHandle IN_FLIGHT;
    private static final VarHandle LATENCY;
    private static final VarHandle SUCCESS;
    private static final VarHandle COST;
    private static final VarHandle LAST_PICK;
    private static final VarHandle STAMP;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            IN_FLIGHT = lookup.findVarHandle(NodeStats.class, "inFlight", long.class);
            LATENCY = lookup.findVarHandle(NodeStats.class, "latencyNanos", long.class);
            SUCCESS = lookup.findVarHandle(NodeStats.class, "success", double.class);
            COST = lookup.findVarHandle(NodeStats.class, "cost", double.class);
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
    /** Load over success rate: the inverse of the power-of-two-choices score at no call in flight. */
    private double cost = NO_SAMPLE_LOAD;
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

    /** Whether the selection of a call to this node should be timed whatever the sampling: see {@link Selection}. */
    boolean timeEveryCall() {
        long latency = latencyNanos();
        return latency == 0 || latency >= TIME_EVERY_CALL_NANOS;
    }

    /**
     * Ends a call that was not timed: a success only leaves the in-flight count; a failure also lowers the
     * success rate (failures are rare, so reading the clock for them costs little).
     */
    void endUntimed(boolean ok) {
        IN_FLIGHT.getAndAdd(this, -1L);
        if (!ok) {
            long now = System.nanoTime();
            long elapsed = Math.max(0L, now - (long) STAMP.getAcquire(this));
            STAMP.setRelease(this, now);
            double keep = decay(elapsed * INVERSE_TAU);
            double newSuccess = success() * keep;
            SUCCESS.setRelease(this, newSuccess);
            COST.setRelease(this, Math.sqrt(latencyNanos() + LATENCY_FLOOR_NANOS) / newSuccess);
        }
    }

    void end(long now, long latency, boolean ok) {
        IN_FLIGHT.getAndAdd(this, -1L);
        long elapsed = Math.max(0L, now - (long) STAMP.getAcquire(this));
        STAMP.setRelease(this, now);
        long oldLatency = latencyNanos();
        // The first sample replaces the "no data" state outright, as Kratos does.
        double keep = oldLatency == 0 ? 0.0 : decay(elapsed * INVERSE_TAU);
        long sample = Math.max(1L, latency);
        long newLatency = Math.max(1L, (long) (oldLatency * keep + sample * (1.0 - keep) + 0.5));
        double newSuccess = success() * keep + (ok ? 1.0 - keep : 0.0);
        LATENCY.setRelease(this, newLatency);
        SUCCESS.setRelease(this, newSuccess);
        COST.setRelease(this, Math.sqrt(newLatency + LATENCY_FLOOR_NANOS) / newSuccess);
    }

    /**
     * {@code exp(-x)} for {@code x >= 0}. Completions that follow each other closely (the case where the cost of
     * {@link Math#exp} shows) take the series {@code 1 - x + x^2/2 - x^3/6}, whose error below x = 0.01 is under
     * {@code x^4/24 < 5e-10}.
     */
    static double decay(double x) {
        return x < SERIES_LIMIT ? 1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6))) : Math.exp(-x);
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

    /**
     * Returns {@code load / success}, load being {@code sqrt(latency + 5 ms)} or, before the first completion,
     * {@link #NO_SAMPLE_LOAD}: infinite when every recent call failed.
     */
    double cost() {
        return (double) COST.getAcquire(this);
    }

    long lastPickNanos() {
        return (long) LAST_PICK.getAcquire(this);
    }
}
