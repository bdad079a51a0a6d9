package io.roster.select;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Balancer#weightedRoundRobin()}: nginx's smooth weighted round-robin, exactly, at a cost per pick that
 * does not grow with the number of nodes.
 *
 * <p>nginx's step adds every node's weight to its current weight, takes the node with the highest current weight
 * (the first in list order on a tie) and subtracts the total weight from it: O(n) per pick. Two observations make
 * it cheaper without changing a single pick:
 * <ul>
 *   <li>Current weights need not all be written each step. Node i's current weight after t steps is
 *       {@code base[i] + t * weight[i]}; a step increments t and changes the picked node's base only.</li>
 *   <li>Nodes of equal weight keep their order. Within a group of equal weight the current weights all grow by
 *       the same amount, so their order changes only when one is picked; the group is kept as a ring sorted by
 *       current weight (ties by list order), the maximum of the whole list is the best of the G group fronts,
 *       and the picked node, lowered by the total weight, is put back in order. In nginx's steady state it
 *       becomes the group's last (its current weight drops below every other member's), so putting it back costs
 *       one comparison; only after an update that changed the total weight, while the carried current weights
 *       settle, does it move further up.</li>
 * </ul>
 * A pick therefore costs O(G), G being the number of distinct weights: in practice one (every instance at the
 * default weight) to a handful, whatever the number of instances; with all weights distinct it is O(n) like
 * nginx's own loop.
 *
 * <p>Why not the alternatives. A precomputed schedule of one cycle (total weight / gcd picks) makes picks O(1) but
 * can be very long for uneven weights, and cannot carry each node's current weight over a list update, which this
 * balancer does so that an update does not restart the sequence at the heaviest node. A stride or earliest-deadline
 * scheduler is O(log n) and smooth, but its sequence is not nginx's (weights 5, 1, 1 give a a a a a b c from a
 * zero start, or a a a b c a a with half-stride offsets, instead of nginx's a a b a c a a), and Kratos's
 * {@code wrr}, which Go services on the same registry use, is nginx's.
 *
 * <p>The step still reads and writes shared state, so picks of one picker are serialised by its monitor, held for
 * the O(G) step without allocation.
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
        for (int i = 0; i < array.length; i++) {
            weights[i] = allZero ? 1 : array[i].weight();
            current[i] = carried.getOrDefault(array[i].key(), 0L);
        }
        return new WeightedPicker(array, weights, current);
    }

    @Override
    public String toString() {
        return "weighted-round-robin";
    }

    static final class WeightedPicker implements Picker {
        /** Steps after which {@code t * weight} is folded into the bases, long before it could overflow. */
        private static final long FOLD_STEPS = 1L << 20;

        private final Node[] nodes;
        private final long[] weights;
        private final long total;
        /** The weight of each group. */
        private final long[] groupWeight;
        /** Where each group's ring starts in {@link #order}, and its size. */
        private final int[] groupStart;
        private final int[] groupSize;
        // Guarded by this:
        /** Node indices, group after group; each group's segment a ring sorted by current weight, ties by index. */
        private final int[] order;
        /** The position of each group's front (its best node) in {@link #order}. */
        private final int[] groupHead;
        /** Node i's current weight is {@code base[i] + steps * weights[i]}. */
        private final long[] base;
        private long steps;

        WeightedPicker(Node[] nodes, long[] weights, long[] current) {
            this.nodes = nodes;
            this.weights = weights;
            this.base = current.clone();
            long sum = 0;
            // Groups in order of first appearance; within a group, nodes by current weight (desc), then list order.
            Map<Long, List<Integer>> groups = new LinkedHashMap<>();
            for (int i = 0; i < nodes.length; i++) {
                sum += weights[i];
                groups.computeIfAbsent(weights[i], w -> new ArrayList<>()).add(i);
            }
            this.total = sum;
            int count = groups.size();
            groupWeight = new long[count];
            groupStart = new int[count];
            groupSize = new int[count];
            groupHead = new int[count];
            order = new int[nodes.length];
            int g = 0;
            int at = 0;
            for (Map.Entry<Long, List<Integer>> group : groups.entrySet()) {
                List<Integer> members = group.getValue();
                members.sort((a, b) -> base[a] != base[b] ? Long.compare(base[b], base[a]) : Integer.compare(a, b));
                groupWeight[g] = group.getKey();
                groupStart[g] = at;
                groupSize[g] = members.size();
                groupHead[g] = at;
                for (int member : members) {
                    order[at++] = member;
                }
                g++;
            }
        }

        @Override
        public synchronized Node pick() {
            long t = ++steps;
            int bestGroup = 0;
            int best = -1;
            long bestWeight = Long.MIN_VALUE;
            for (int g = 0; g < groupWeight.length; g++) {
                int front = order[groupHead[g]];
                long w = base[front] + t * groupWeight[g];
                if (w > bestWeight || w == bestWeight && front < best) {
                    bestWeight = w;
                    best = front;
                    bestGroup = g;
                }
            }
            base[best] -= total;
            requeue(bestGroup);
            if (t == FOLD_STEPS) {
                fold();
            }
            return nodes[best];
        }

        /**
         * Moves a group's front, just lowered, to its place: the ring's head advances, which makes the old front's
         * slot the last, and it moves up while it ranks above the node before it.
         */
        private void requeue(int g) {
            int start = groupStart[g];
            int size = groupSize[g];
            int slot = groupHead[g];
            int node = order[slot];
            int head = slot + 1 == start + size ? start : slot + 1;
            groupHead[g] = head;
            while (slot != head) {
                int before = slot == start ? start + size - 1 : slot - 1;
                int other = order[before];
                if (base[other] > base[node] || base[other] == base[node] && other < node) {
                    break;
                }
                order[slot] = other;
                slot = before;
            }
            order[slot] = node;
        }

        private void fold() {
            for (int i = 0; i < base.length; i++) {
                base[i] += steps * weights[i];
            }
            steps = 0;
        }

        synchronized Map<String, Long> currentWeights() {
            Map<String, Long> map = new HashMap<>(nodes.length * 2);
            for (int i = 0; i < nodes.length; i++) {
                map.put(nodes[i].key(), base[i] + steps * weights[i]);
            }
            return map;
        }
    }
}
