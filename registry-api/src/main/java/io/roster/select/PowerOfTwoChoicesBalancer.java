package io.roster.select;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link Balancer#powerOfTwoChoices()}: Kratos's {@code p2c} balancer over {@code ewma} nodes.
 *
 * <p>Not carried over from Kratos: its ring of in-flight start times that predicts a slow node before its calls
 * complete. It costs a lock per pick; a node whose calls hang still loses through its growing in-flight count.
 */
final class PowerOfTwoChoicesBalancer implements Balancer {
    static final PowerOfTwoChoicesBalancer INSTANCE = new PowerOfTwoChoicesBalancer();

    /** A loser not picked for this long is picked once anyway (Kratos's {@code forcePick}). */
    static final long FORCE_PICK_NANOS = 3_000_000_000L;
    /** Added to every latency, to blur the gap between zones (Kratos). */
    private static final double LATENCY_FLOOR_NANOS = 5_000_000;
    /**
     * The load factor of a node without a completed call: Kratos's penalty, sqrt of a 10 s latency, so that a new
     * node is tried through the forced pick rather than flooded.
     */
    private static final double NO_SAMPLE_LOAD = 100_000;

    private PowerOfTwoChoicesBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        return new EwmaPicker(nodes);
    }

    @Override
    public boolean tracksLoad() {
        return true;
    }

    @Override
    public String toString() {
        return "power-of-two-choices";
    }

    /** Higher is better: success rate over load. */
    static double score(NodeStats stats) {
        long latency = stats.latencyNanos();
        double load = latency == 0 ? NO_SAMPLE_LOAD : Math.sqrt(latency + LATENCY_FLOOR_NANOS);
        return stats.success() / (load * (stats.inFlight() + 1));
    }

    private static final class EwmaPicker extends TwoChoicePicker {
        /** Lets one forced pick through at a time, as Kratos's {@code picked} flag. */
        private final AtomicBoolean forcing = new AtomicBoolean();

        EwmaPicker(List<Node> nodes) {
            super(nodes);
        }

        @Override
        Node choose(Node first, Node second) {
            Node winner = first;
            Node loser = second;
            if (score(second.stats) > score(first.stats)) {
                winner = second;
                loser = first;
            }
            boolean stale = System.nanoTime() - loser.stats.lastPickNanos() > FORCE_PICK_NANOS;
            if (stale && forcing.compareAndSet(false, true)) {
                winner = loser;
                forcing.set(false);
            }
            return winner;
        }
    }
}
