package io.roster.select;

import java.util.List;

/**
 * Chooses one node per call. A balancer builds an immutable {@link Picker} once per change of the candidate list
 * (as grpc-java's {@code SubchannelPicker}); {@link Selector#select()} then only calls {@link Picker#pick()}, so
 * the work per pick stays small: no sorting, copying or locking of the list.
 *
 * <p>Implement this to add a policy of your own. A balancer object holds no state of a selector (pickers do), so
 * one can serve several selectors.
 */
public interface Balancer {

    /**
     * Builds the picker for a new candidate list.
     *
     * @param nodes the candidates, never empty, immutable, in the order of the instance list (sorted by id for
     *     lists from a {@link io.roster.Watcher})
     * @param previous the picker this one replaces, or {@code null} for the selector's first list; a policy with
     *     state of its own (a rotation counter, current weights) carries it over from there, keyed by
     *     {@link Node#key()}, so that a list update does not reset it. It may still be picking concurrently.
     * @return the picker, safe for concurrent {@link Picker#pick()} calls
     */
    Picker picker(List<Node> nodes, Picker previous);

    /**
     * Whether the selector should maintain the nodes' load statistics for this balancer: in-flight count, latency
     * and success rate, fed by {@link Selection#done(boolean)}. That costs two atomic updates of the node per pick
     * and, for the picks that are timed (see {@link Selection}), two clock reads; balancers that do not read them
     * should leave this {@code false}.
     *
     * @return {@code false} by default
     */
    default boolean tracksLoad() {
        return false;
    }

    /**
     * Uniform random choice.
     *
     * @return a balancer picking with {@link java.util.concurrent.ThreadLocalRandom}
     */
    static Balancer random() {
        return RandomBalancer.INSTANCE;
    }

    /**
     * Round-robin over the candidates in list order. Each selector starts at a random position, so that clients
     * started together do not all call the same instance first; the rotation continues across list updates.
     * Threads rotate on a few striped counters rather than one, so that they do not contend for it: one thread
     * alone sees strict round-robin, and over any run of picks no node is more than a few picks (one per counter
     * in use) from its fair share.
     *
     * @return a lock-free round-robin balancer
     */
    static Balancer roundRobin() {
        return RoundRobinBalancer.INSTANCE;
    }

    /**
     * nginx's smooth weighted round-robin (Kratos's {@code wrr}), weights from the {@value Node#WEIGHT_KEY}
     * metadata. Over every run of picks each node gets its share of the total weight, interleaved (weights 5, 1, 1
     * give a a b a c a a). Nodes of weight 0 are never picked while another node has a positive weight; when all
     * weights are 0 all nodes count equally. Each node's current weight carries over list updates. The picks are
     * exactly nginx's, at a cost that grows with the number of distinct weights rather than the number of nodes.
     *
     * @return a weighted round-robin balancer; each pick takes a short lock
     */
    static Balancer weightedRoundRobin() {
        return WeightedRoundRobinBalancer.INSTANCE;
    }

    /**
     * Power of two choices with Kratos's EWMA load: draws two distinct random nodes and takes the one with the
     * better score, success rate / (sqrt(latency + 5 ms) &times; (in-flight + 1)), latency and success rate being
     * moving averages of what callers report through {@link Selection#done(boolean)}. A node that loses but has
     * not been picked for 3 s is picked once anyway, so that a recovered node gets the chance to show it.
     *
     * @return a load-aware balancer; it {@linkplain #tracksLoad() tracks load}
     */
    static Balancer powerOfTwoChoices() {
        return PowerOfTwoChoicesBalancer.INSTANCE;
    }

    /**
     * Least requests, as grpc-java's {@code least_request} and Envoy's: of two distinct random nodes, the one
     * with fewer calls in flight. A full scan for the minimum would cost a pass over the list per pick and would
     * send every call of a sequential caller to the first node.
     *
     * @return a load-aware balancer; it {@linkplain #tracksLoad() tracks load}
     */
    static Balancer leastRequests() {
        return LeastRequestsBalancer.INSTANCE;
    }

    /**
     * Chooses one node of a fixed candidate list.
     */
    @FunctionalInterface
    interface Picker {
        /**
         * Chooses a node. Called concurrently from any number of threads; must not block for long.
         *
         * @return one of the nodes the picker was built for, never {@code null}
         */
        Node pick();
    }
}
