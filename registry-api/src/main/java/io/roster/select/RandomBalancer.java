package io.roster.select;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** {@link Balancer#random()}. */
final class RandomBalancer implements Balancer {
    static final RandomBalancer INSTANCE = new RandomBalancer();

    private RandomBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        Node[] array = nodes.toArray(new Node[0]);
        return () -> array[ThreadLocalRandom.current().nextInt(array.length)];
    }

    @Override
    public String toString() {
        return "random";
    }
}
