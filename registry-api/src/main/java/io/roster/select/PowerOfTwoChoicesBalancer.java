package io.roster.select;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@link Balancer#powerOfTwoChoices()}: Kratos's {@code p2c} balancer over {@code ewma} nodes.
 *
 * <p>Not carried over from Kratos: its ring of in-flight start times that predicts a slow node before its calls
 * complete. It costs a lock per pick; a node whose calls hang still loses through its growing in-flight count.
 *
 * <p>Per pick: two random draws, two products compared ({@link NodeStats#cost()} is kept by each completion, so
 * no square root or division is computed here) and no clock read of its own (the selector passes a recent time).
 */
final class PowerOfTwoChoicesBalancer implements Balancer {
    static final PowerOfTwoChoicesBalancer INSTANCE = new PowerOfTwoChoicesBalancer();

    /** A loser not picked for this long is picked once anyway (Kratos's {@code forcePick}). */
    static final long FORCE_PICK_NANOS = 3_000_000_000L;

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

    /**
     * Whether {@code b} scores better than {@code a}, Kratos's score being success rate / (load &times;
     * (in-flight + 1)) with load = sqrt(latency + 5 ms): compared as {@code cost * (in-flight + 1)}, the inverse.
     * A node whose recent calls all failed has an infinite cost and never scores better.
     */
    static boolean better(NodeStats b, NodeStats a) {
        return b.cost() * (b.inFlight() + 1) < a.cost() * (a.inFlight() + 1);
    }

    private static final class EwmaPicker extends TwoChoicePicker {
        /** Lets one forced pick through at a time, as Kratos's {@code picked} flag. */
        private final AtomicBoolean forcing = new AtomicBoolean();

        EwmaPicker(List<Node> nodes) {
            super(nodes);
        }

        @Override
        public Node pick() {
            return pick(System.nanoTime());
        }

        @Override
        boolean choose(NodeStats first, NodeStats second, long now) {
            boolean takeSecond = better(second, first);
            NodeStats loser = takeSecond ? first : second;
            if (now - loser.lastPickNanos() > FORCE_PICK_NANOS && forcing.compareAndSet(false, true)) {
                takeSecond = !takeSecond;
                forcing.set(false);
            }
            return takeSecond;
        }
    }
}
