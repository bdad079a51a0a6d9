package io.roster.select;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Base of the power-of-two-choices pickers: draws two distinct nodes uniformly (Stork may draw the same node twice
 * and compare it with itself) and lets the subclass choose between them. {@link Selector#select()} passes the
 * selector's recent time ({@link RecentTime}), so that a picker that needs the time reads no clock of its own.
 */
abstract class TwoChoicePicker implements Balancer.Picker {
    private final Node[] nodes;
    /** {@code nodes[i].stats}, read without going through the node (one memory access less per draw). */
    private final NodeStats[] stats;

    TwoChoicePicker(List<Node> nodes) {
        this.nodes = nodes.toArray(new Node[0]);
        this.stats = new NodeStats[this.nodes.length];
        for (int i = 0; i < stats.length; i++) {
            stats[i] = this.nodes[i].stats;
        }
    }

    @Override
    public Node pick() {
        return pick(0L);
    }

    /**
     * Chooses a node.
     *
     * @param now a recent {@link System#nanoTime()}, for pickers that need the time
     */
    final Node pick(long now) {
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
        return choose(stats[a], stats[b], now) ? n[b] : n[a];
    }

    /**
     * Chooses between two distinct nodes drawn in random order, given by their statistics.
     *
     * @return whether to take the second; on a tie, {@code false}
     */
    abstract boolean choose(NodeStats first, NodeStats second, long now);
}
