package io.roster.select;

import io.roster.ServiceInstance;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.URI;
import java.time.Duration;

/**
 * The result of {@link Selector#select()}: the instance to call, its endpoint, and the completion callback through
 * which the caller reports how the call went.
 *
 * <pre>{@code
 * Selection picked = selector.select();
 * boolean ok = false;
 * try {
 *     call(picked.endpoint());
 *     ok = true;
 * } finally {
 *     picked.done(ok);   // latency measured from select()
 * }
 * }</pre>
 *
 * <p>Call one of the {@code done} methods once per selection, from any thread; later calls are ignored. For
 * balancers that do not {@linkplain Balancer#tracksLoad() track load} {@code done} does nothing and the selector
 * may hand out the same selection object for every pick of a node, so that picking allocates nothing.
 */
public final class Selection {
    private static final VarHandle DONE;

    static {
        try {
            DONE = MethodHandles.lookup().findVarHandle(Selection.class, "done", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Node node;
    private final NodeStats stats;
    private final long startNanos;
    @SuppressWarnings("unused") // through DONE
    private volatile boolean done;

    /** A selection whose completion is not recorded. */
    Selection(Node node) {
        this.node = node;
        this.stats = null;
        this.startNanos = 0L;
    }

    /** A selection that counts as in flight on its node until done. */
    Selection(Node node, long startNanos) {
        this.node = node;
        this.stats = node.stats;
        this.startNanos = startNanos;
    }

    /**
     * Returns the chosen instance.
     *
     * @return the instance
     */
    public ServiceInstance instance() {
        return node.instance();
    }

    /**
     * Returns the endpoint to call.
     *
     * @return the instance's first endpoint with the selector's scheme, such as {@code grpc://10.0.0.5:9000}
     */
    public URI endpoint() {
        return node.endpoint();
    }

    /**
     * Returns the chosen node, with its weight and statistics.
     *
     * @return the node
     */
    public Node node() {
        return node;
    }

    /**
     * Reports that the call finished, its latency being the time since {@link Selector#select()} returned this.
     *
     * @param success whether the call succeeded; failures lower the node's success rate
     */
    public void done(boolean success) {
        if (stats != null && DONE.compareAndSet(this, false, true)) {
            long now = System.nanoTime();
            stats.end(now, now - startNanos, success);
        }
    }

    /**
     * Reports that the call finished with the given latency, for callers that measure it themselves.
     *
     * @param latency how long the call took
     * @param success whether the call succeeded; failures lower the node's success rate
     */
    public void done(Duration latency, boolean success) {
        if (stats != null && DONE.compareAndSet(this, false, true)) {
            stats.end(System.nanoTime(), latency.toNanos(), success);
        }
    }

    @Override
    public String toString() {
        return "Selection{" + node.instance().id() + " at " + node.endpoint() + '}';
    }
}
