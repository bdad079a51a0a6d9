package io.roster.select;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@link Balancer#roundRobin()}.
 *
 * <p>One shared counter would be exact but slow under concurrency: every pick of every thread increments it, so
 * its cache line moves between cores on each pick and two threads get less done than one. So the rotation is
 * striped: a small array of counters, each on its own 128-byte block (no false sharing, nor with the adjacent-line
 * prefetcher), and a thread uses the counter its id maps to. Each counter is an exact rotation over the list in
 * list order from its own random start, so a thread alone sees strict round-robin, and over any run of picks each
 * node's count differs from the fair share by at most one per counter in use. The counters are carried over to
 * the next picker, so the rotation goes on where it was after a list update.
 */
final class RoundRobinBalancer implements Balancer {
    static final RoundRobinBalancer INSTANCE = new RoundRobinBalancer();

    private RoundRobinBalancer() {
    }

    @Override
    public Picker picker(List<Node> nodes, Picker previous) {
        Counters counters = previous instanceof RoundRobinPicker
                ? ((RoundRobinPicker) previous).counters
                : new Counters();
        return new RoundRobinPicker(nodes.toArray(new Node[0]), counters);
    }

    @Override
    public String toString() {
        return "round-robin";
    }

    private static final class RoundRobinPicker implements Picker {
        private final Node[] nodes;
        final Counters counters;

        RoundRobinPicker(Node[] nodes, Counters counters) {
            this.nodes = nodes;
            this.counters = counters;
        }

        @Override
        public Node pick() {
            return nodes[Math.floorMod(counters.next(), nodes.length)];
        }
    }

    /** Striped rotation counters. */
    static final class Counters {
        /** 128 bytes between counters: two cache lines, as the adjacent-line prefetcher pulls pairs. */
        private static final int SPACING = 32;
        private static final int MAX_STRIPES = 32;
        private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(int[].class);

        private final int[] cells;
        private final int mask;

        Counters() {
            this(stripes(Runtime.getRuntime().availableProcessors()));
        }

        Counters(int stripes) {
            mask = stripes - 1;
            cells = new int[(stripes + 1) * SPACING]; // cell 0 unused: no neighbour of the array header
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int i = 1; i <= stripes; i++) {
                // Each counter starts at a random position, so that clients started together do not all call the
                // same instance first, nor do threads of one client.
                cells[i * SPACING] = random.nextInt(Integer.MAX_VALUE);
            }
        }

        /** A power of two, at least twice the processors (fewer threads share a counter), at most 32. */
        static int stripes(int processors) {
            int wanted = Math.min(MAX_STRIPES, processors * 2);
            return Integer.highestOneBit(Math.max(1, wanted - 1)) << 1;
        }

        @SuppressWarnings("deprecation") // Thread.getId(): threadId() is Java 19+; both read the same final field
        int next() {
            int stripe = ((int) Thread.currentThread().getId() & mask) + 1;
            return (int) CELL.getAndAdd(cells, stripe * SPACING, 1);
        }
    }
}
