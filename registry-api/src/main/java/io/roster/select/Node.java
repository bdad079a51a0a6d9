package io.roster.select;

import io.roster.ServiceInstance;

import java.net.URI;

/**
 * One candidate of a {@link Selector}: an instance, its endpoint for the selector's scheme, its weight, and the
 * call statistics that load-aware balancers read. This is what a {@link Balancer} chooses from.
 *
 * <p>A node object belongs to one instance list; the statistics behind it belong to the node's identity (service
 * name, instance id and endpoint) and carry over to the next list as long as the identity is still in it. They are
 * maintained only when the balancer {@linkplain Balancer#tracksLoad() tracks load}; otherwise they keep their
 * initial values.
 */
public final class Node {
    /** The weight of an instance whose metadata has no usable {@value #WEIGHT_KEY}, as in Kratos. */
    public static final int DEFAULT_WEIGHT = 100;
    /** The metadata key holding an instance's weight, a base-10 integer. */
    public static final String WEIGHT_KEY = "weight";

    private final ServiceInstance instance;
    private final URI endpoint;
    private final String key;
    private final int weight;
    final NodeStats stats;
    /** The one selection handed out for every pick of this node when load is not tracked, so picks allocate nothing. */
    final Selection untracked;

    Node(ServiceInstance instance, URI endpoint, String key, NodeStats stats, boolean tracked) {
        this.instance = instance;
        this.endpoint = endpoint;
        this.key = key;
        this.weight = weight(instance.metadata().get(WEIGHT_KEY));
        this.stats = stats;
        this.untracked = tracked ? null : new Selection(this);
    }

    /**
     * Reads a weight as Kratos does ({@code strconv.ParseInt(s, 10, 64)}): an optional sign and ASCII digits, nothing
     * else; anything unreadable gives {@link #DEFAULT_WEIGHT}. Unlike Kratos, a negative weight counts as 0 (never
     * picked while another node has a positive weight) and weights are capped at {@link Integer#MAX_VALUE}. This is
     * the weight every node gets from its instance's {@value #WEIGHT_KEY} metadata; integrations that pass weights
     * on (such as registry-grpc's address attributes) read them with it, so that they agree with the balancers.
     *
     * @param text the metadata value, or {@code null} when absent
     * @return the weight, at least 0
     */
    public static int weight(String text) {
        if (text == null || text.isEmpty()) {
            return DEFAULT_WEIGHT;
        }
        int start = text.charAt(0) == '+' || text.charAt(0) == '-' ? 1 : 0;
        if (start == text.length() || text.length() - start > 19) {
            return DEFAULT_WEIGHT;
        }
        for (int i = start; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return DEFAULT_WEIGHT;
            }
        }
        long value;
        try {
            value = Long.parseLong(text);
        } catch (NumberFormatException e) {
            return DEFAULT_WEIGHT; // beyond 64 bits, as Go's ParseInt
        }
        return value < 0 ? 0 : (int) Math.min(value, Integer.MAX_VALUE);
    }

    /**
     * Returns the instance.
     *
     * @return the instance this node stands for
     */
    public ServiceInstance instance() {
        return instance;
    }

    /**
     * Returns the endpoint to call.
     *
     * @return the instance's first endpoint with the selector's scheme
     */
    public URI endpoint() {
        return endpoint;
    }

    /**
     * Returns the node's identity, stable across instance lists: service name, instance id and endpoint. Balancers
     * that keep state of their own per node key it by this.
     *
     * @return {@code name/id/endpoint}; '/' cannot occur in a name or an id, so keys never collide
     */
    public String key() {
        return key;
    }

    /**
     * Returns the weight from the instance's {@value #WEIGHT_KEY} metadata.
     *
     * @return the weight, {@value #DEFAULT_WEIGHT} when absent or not a base-10 integer, 0 when negative
     */
    public int weight() {
        return weight;
    }

    /**
     * Returns how many calls of this node are in flight: selections not yet done or closed, plus
     * {@link #callStarted()} calls not yet matched by {@link #callFinished(long, boolean)}.
     *
     * @return the calls in flight, 0 when load is not tracked
     */
    public long inFlight() {
        return stats.inFlight();
    }

    /**
     * Returns the moving average of the latency reported for this node: of every call, or for a node whose calls
     * take less than 20 &micro;s, of one in 16 (see {@link Selection}).
     *
     * @return nanoseconds, 0 before the first completion
     */
    public long latencyNanos() {
        return stats.latencyNanos();
    }

    /**
     * Returns the moving average of the success rate reported for this node.
     *
     * @return between 0 (every recent call failed) and 1 (none failed, or no call completed yet)
     */
    public double successRate() {
        return stats.success();
    }

    /**
     * Returns when this node was last picked. An untimed selection (see {@link Selection}) records the time of the
     * selector's latest timed selection instead of reading the clock: behind by the time of a few selections.
     *
     * @return a {@link System#nanoTime()} value; for a node never picked, one so far in the past that
     *     {@link Balancer#powerOfTwoChoices()} tries it the next time it draws it
     */
    public long lastPickNanos() {
        return stats.lastPickNanos();
    }

    /**
     * Counts a call as started on this node, for integrations that picked it with {@link Selector#pick()} and keep
     * the call's state themselves, so that nothing is allocated per call (a grpc-java {@code ClientStreamTracer}
     * calls this when the stream starts and {@link #callFinished(long, boolean)} from {@code streamClosed}).
     *
     * <p>Each call must be matched by exactly one {@code callFinished}: unlike a {@link Selection}, nothing guards
     * against a second or a missing one, and a missing one keeps the node looking busy to the load-aware
     * balancers for good. Use it only where the framework guarantees one completion callback per call.
     *
     * @return the start time, a {@link System#nanoTime()} value to hand to {@code callFinished}; 0, and nothing
     *     counted, when the selector's balancer does not {@linkplain Balancer#tracksLoad() track load}
     */
    public long callStarted() {
        if (untracked != null) {
            return 0L;
        }
        long now = System.nanoTime();
        stats.begin(now);
        return now;
    }

    /**
     * Reports the end of a call counted by {@link #callStarted()}.
     *
     * @param startedNanos what {@code callStarted()} returned; the latency is the time since
     * @param success whether the call succeeded; failures lower the node's success rate
     */
    public void callFinished(long startedNanos, boolean success) {
        if (untracked == null) {
            long now = System.nanoTime();
            stats.end(now, now - startedNanos, success);
        }
    }

    @Override
    public String toString() {
        return "Node{" + key + ", weight=" + weight + '}';
    }
}
