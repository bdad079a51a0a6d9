package io.roster.select;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Balancer#weightedRoundRobin()}: nginx's smooth weighted round-robin.
 *
 * <p>Each pick adds every node's weight to its current weight, takes the node with the highest current weight
 * (the first one on a tie) and subtracts the total weight from it. The step reads and writes every node's current
 * weight, so picks of one picker are serialised by a lock held for that loop over two arrays (no allocation, no
 * map lookups, unlike Kratos's mutex around a map). A lock-free variant would have to copy the whole state per
 * pick; a precomputed schedule cannot carry current weights over list updates.
 */
final class WeightedRoundRobinBalancer implements Balancer {
    static final WeightedRoundRobinBalancer INSTANCE = new WeightedRoundRobinBalancer();

    private WeightedRoundRobinBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        List<Node> weighted = new ArrayList<>(nodes.size());
        for (Node node : nodes) {
            if (node.weight() > 0) {
                weighted.add(node);
            }
        }
        boolean allZero = weighted.isEmpty();
        List<Node> chosen = allZero ? nodes : weighted;
        if (chosen.size() == 1) {
            Node only = chosen.get(0);
            return () -> only; // one node: its current weight is 0 after every pick, nothing to keep
        }
        Map<String, Long> carried = previous instanceof WeightedPicker
                ? ((WeightedPicker) previous).currentWeights()
                : Map.of();
        Node[] array = chosen.toArray(new Node[0]);
        long[] weights = new long[array.length];
        long[] current = new long[array.length];
        long total = 0;
        for (int i = 0; i < array.length; i++) {
            weights[i] = allZero ? 1 : array[i].weight();
            total += weights[i];
            current[i] = carried.getOrDefault(array[i].key(), 0L);
        }
        return new WeightedPicker(array, weights, total, current);
    }

    @Override
    public String toString() {
        return "weighted-round-robin";
    }

    private static final class WeightedPicker implements Picker {
        private final Node[] nodes;
        private final long[] weights;
        private final long total;
        /** Guarded by {@code this}. */
        private final long[] current;

        WeightedPicker(Node[] nodes, long[] weights, long total, long[] current) {
            this.nodes = nodes;
            this.weights = weights;
            this.total = total;
            this.current = current;
        }

        @Override
        public Node pick() {
            int best = 0;
            synchronized (this) {
                long[] c = current;
                long bestWeight = Long.MIN_VALUE;
                for (int i = 0; i < c.length; i++) {
                    long w = c[i] + weights[i];
                    c[i] = w;
                    if (w > bestWeight) {
                        bestWeight = w;
                        best = i;
                    }
                }
                c[best] = bestWeight - total;
            }
            return nodes[best];
        }

        synchronized Map<String, Long> currentWeights() {
            Map<String, Long> map = new HashMap<>(nodes.length * 2);
            for (int i = 0; i < nodes.length; i++) {
                map.put(nodes[i].key(), current[i]);
            }
            return map;
        }
    }
}
