package io.roster.select;

import io.roster.ServiceInstance;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The result of {@link Selector#select()}: the instance to call, its endpoint, and the completion through which
 * the caller reports how the call went. Use it with try-with-resources, so that an exception between
 * {@code select()} and {@code done} still completes it:
 *
 * <pre>{@code
 * try (Selection picked = selector.select()) {
 *     call(picked.endpoint());
 *     picked.done(true);       // latency measured from select()
 * }                            // not done (an exception, a forgotten done): close() reports a failure
 * }</pre>
 *
 * <p>A selection counts as a call in flight on its node until it is done or closed; for the load-aware balancers
 * ({@link Balancer#leastRequests()}, {@link Balancer#powerOfTwoChoices()}) a selection left open would keep its
 * node looking busy for good.
 *
 * <ul>
 *   <li>{@code done} reports the outcome once; later {@code done} calls are ignored. Call it from any thread.</li>
 *   <li>{@link #close()} reports a failure unless the selection is done, then hands the selection back to the
 *       selector. It is idempotent, and after {@code done} it reports nothing.</li>
 *   <li>A closed selection must not be used again: the selector recycles it for a later {@code select()} on the
 *       thread that selected it, which is how selecting allocates nothing. Until then its accessors throw
 *       {@link IllegalStateException}. Try-with-resources makes a use after {@code close()} impossible.</li>
 *   <li>A call that completes on another thread (an asynchronous client): call {@code done} from the callback and
 *       do not close the selection before. Closing it afterwards is optional; a selection that is never closed
 *       is simply left to the garbage collector.</li>
 * </ul>
 *
 * <p><b>Timing.</b> The latency is measured from {@code select()} to {@code done(boolean)} with
 * {@link System#nanoTime()}. A clock read costs tens of nanoseconds (more on some virtual machines), which matters
 * only for calls that take microseconds; so calls to a node whose average latency is under 20 &micro;s are timed
 * one in 16 at random, and all others, and every call to a node without a sample yet, are timed. The in-flight
 * count is exact for every call, and every failure lowers the success rate.
 *
 * <p>For balancers that do not {@linkplain Balancer#tracksLoad() track load}, {@code done} and {@code close} do
 * nothing and the selector hands out one selection object per node for all its picks.
 *
 * <p>Integrations that have their own per-call object and a guaranteed completion callback (a grpc-java
 * {@code ClientStreamTracer}) can skip selections altogether: {@link Selector#pick()},
 * {@link Node#callStarted()} and {@link Node#callFinished(long, boolean)}.
 */
public final class Selection implements AutoCloseable {
    /** Fast calls are timed one in this many, drawn at random (a power of two). */
    static final int SAMPLE_EVERY = 16;
    /** Selections kept per thread for reuse; more are left to the garbage collector. */
    static final int POOL_SIZE = 8;

    // The life of a tracked selection. FREE: closed (in a pool, or dropped). ACTIVE: handed out. COMPLETING: one
    // done/close is recording the outcome. DONE: recorded, not closed. Only close() moves DONE to FREE, never while
    // another thread is COMPLETING, and only the selecting thread puts a selection back in its pool.
    private static final int FREE = 0;
    private static final int ACTIVE = 1;
    private static final int COMPLETING = 2;
    private static final int DONE = 3;

    private static final VarHandle STATE;
    /** {@code Thread.isVirtual()} on Java 21+, constant false before. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();
    private static final ThreadLocal<Pool> POOLS = ThreadLocal.withInitial(Pool::new);

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Selection.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** For untracked balancers: one immutable selection per node, whose done and close do nothing. */
    private final boolean shared;
    /** The pool of the thread that created this selection, which it returns to; null on a virtual thread. */
    private final Pool home;
    // Written by the selecting thread before the release store of ACTIVE; read after an acquire of the state.
    /** The node picked; null once closed. */
    private Node node;
    private long startNanos;
    private boolean timed;
    @SuppressWarnings("unused") // through STATE
    private int state;

    /** The shared selection of a node whose completions are not recorded. */
    Selection(Node node) {
        this.shared = true;
        this.home = null;
        this.node = node;
    }

    private Selection(Pool home) {
        this.shared = false;
        this.home = home;
    }

    /**
     * Starts a call on {@code node}: counts it in flight and hands out a selection for it, recycled from the
     * calling thread's pool when it has one. Virtual threads (Java 21+) have no pool: their thread-locals live as
     * long as one task, so a pool would cost more than the selection it saves.
     */
    static Selection open(Node node, RecentTime recent) {
        NodeStats stats = node.stats;
        boolean timed = stats.timeEveryCall() || (ThreadLocalRandom.current().nextInt() & (SAMPLE_EVERY - 1)) == 0;
        long now = timed ? recent.read() : recent.get();
        stats.begin(now);
        Thread thread = Thread.currentThread();
        Selection s = isVirtual(thread) ? new Selection((Pool) null) : POOLS.get().take();
        s.node = node;
        s.startNanos = now;
        s.timed = timed;
        STATE.setRelease(s, ACTIVE);
        return s;
    }

    private static boolean isVirtual(Thread thread) {
        try {
            return (boolean) IS_VIRTUAL.invokeExact(thread);
        } catch (Throwable e) {
            throw new IllegalStateException(e); // Thread.isVirtual() throws nothing
        }
    }

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual",
                    MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return MethodHandles.dropArguments(MethodHandles.constant(boolean.class, false), 0, Thread.class);
        }
    }

    /**
     * Returns the chosen instance.
     *
     * @return the instance
     * @throws IllegalStateException when the selection is closed
     */
    public ServiceInstance instance() {
        return node().instance();
    }

    /**
     * Returns the endpoint to call.
     *
     * @return the instance's first endpoint with the selector's scheme, such as {@code grpc://10.0.0.5:9000}
     * @throws IllegalStateException when the selection is closed
     */
    public URI endpoint() {
        return node().endpoint();
    }

    /**
     * Returns the chosen node, with its weight and statistics.
     *
     * @return the node
     * @throws IllegalStateException when the selection is closed
     */
    public Node node() {
        Node n = node;
        if (n == null) {
            throw new IllegalStateException("selection is closed");
        }
        return n;
    }

    /**
     * Reports that the call finished, its latency being the time since {@link Selector#select()} returned this.
     * Only the first {@code done} (or {@link #close()}) of a selection counts.
     *
     * @param success whether the call succeeded; failures lower the node's success rate
     */
    public void done(boolean success) {
        if (!shared && STATE.compareAndSet(this, ACTIVE, COMPLETING)) {
            complete(success);
            STATE.setRelease(this, DONE);
        }
    }

    /**
     * Reports that the call finished with the given latency, for callers that measure it themselves. Only the
     * first {@code done} (or {@link #close()}) of a selection counts.
     *
     * @param latency how long the call took
     * @param success whether the call succeeded; failures lower the node's success rate
     */
    public void done(Duration latency, boolean success) {
        if (!shared && STATE.compareAndSet(this, ACTIVE, COMPLETING)) {
            node.stats.end(System.nanoTime(), latency.toNanos(), success);
            STATE.setRelease(this, DONE);
        }
    }

    /**
     * Ends the selection: reports a failed call unless {@code done} was called (with the latency since
     * {@link Selector#select()}), then hands the selection back to the selector for reuse. Idempotent; after
     * {@code done} it reports nothing. Do not use the selection afterwards.
     */
    @Override
    public void close() {
        if (shared) {
            return;
        }
        int s = (int) STATE.getAcquire(this);
        if (s == ACTIVE && STATE.compareAndSet(this, ACTIVE, COMPLETING)) {
            complete(false);
            s = DONE;
        } else if (s != DONE) {
            s = (int) STATE.getAcquire(this); // lost a race with done: it may be DONE by now
        }
        if (s != DONE) {
            return; // already closed, or another thread is still completing it: then it is left to the collector
        }
        if (home != null && home.owner == Thread.currentThread()) {
            // Only this thread puts the selection back in its pool, so no atomic step is needed: another thread's
            // close() can at worst also see DONE, and it then only marks the selection FREE.
            node = null; // a pooled selection must not keep an old list's node alive
            STATE.setRelease(this, FREE);
            home.give(this);
        } else {
            STATE.compareAndSet(this, DONE, FREE); // not recycled: left to the collector once dropped
        }
    }

    /** Whether this selection's latency is measured (see the class notes on timing); for tests. */
    boolean timed() {
        return timed;
    }

    private void complete(boolean success) {
        NodeStats stats = node.stats;
        if (timed) {
            long now = System.nanoTime();
            stats.end(now, now - startNanos, success);
        } else {
            stats.endUntimed(success);
        }
    }

    @Override
    public String toString() {
        Node n = node;
        return n == null ? "Selection{closed}" : "Selection{" + n.instance().id() + " at " + n.endpoint() + '}';
    }

    /** A thread's free selections, touched by that thread only. */
    static final class Pool {
        final Thread owner = Thread.currentThread();
        private final Selection[] free = new Selection[POOL_SIZE];
        private int size;

        Selection take() {
            if (size == 0) {
                return new Selection(this);
            }
            Selection s = free[--size];
            free[size] = null;
            return s;
        }

        void give(Selection s) {
            if (size < free.length) {
                free[size++] = s;
            }
        }
    }
}
