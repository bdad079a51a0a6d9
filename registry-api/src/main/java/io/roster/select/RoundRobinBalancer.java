package io.roster.select;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/** {@link Balancer#roundRobin()}. */
final class RoundRobinBalancer implements Balancer {
    static final RoundRobinBalancer INSTANCE = new RoundRobinBalancer();

    private RoundRobinBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        // The counter is shared with the previous picker: the rotation goes on where it was.
        AtomicInteger next = previous instanceof RoundRobinPicker
                ? ((RoundRobinPicker) previous).next
                : new AtomicInteger(ThreadLocalRandom.current().nextInt(Integer.MAX_VALUE));
        return new RoundRobinPicker(nodes.toArray(new Node[0]), next);
    }

    @Override
    public String toString() {
        return "round-robin";
    }

    private static final class RoundRobinPicker implements Picker {
        private final Node[] nodes;
        private final AtomicInteger next;

        RoundRobinPicker(Node[] nodes, AtomicInteger next) {
            this.nodes = nodes;
            this.next = next;
        }

        @Override
        public Node pick() {
            return nodes[Math.floorMod(next.getAndIncrement(), nodes.length)];
        }
    }
}
