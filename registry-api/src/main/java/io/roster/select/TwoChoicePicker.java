package io.roster.select;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Base of the power-of-two-choices pickers: draws two distinct nodes uniformly (Stork may draw the same node twice
 * and compare it with itself) and lets the subclass choose between them.
 */
abstract class TwoChoicePicker implements Balancer.Picker {
    private final Node[] nodes;

    TwoChoicePicker(List<Node> nodes) {
        this.nodes = nodes.toArray(new Node[0]);
    }

    @Override
    public final Node pick() {
        Node[] n = nodes;
        if (n.length == 1) {
            return n[0];
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int a = random.nextInt(n.length);
        int b = random.nextInt(n.length - 1);
        if (b >= a) {
            b++;
        }
        return choose(n[a], n[b]);
    }

    /**
     * Chooses between two distinct nodes drawn in random order; on a tie, return {@code first}.
     */
    abstract Node choose(Node first, Node second);
}
