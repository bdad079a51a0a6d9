package io.roster.select;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledForJreRange;
import org.junit.jupiter.api.condition.JRE;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static io.roster.select.TestNodes.instance;
import static io.roster.select.TestNodes.instances;
import static io.roster.select.TestNodes.selector;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;
import static org.assertj.core.api.Assumptions.assumeThat;

/** The life of a {@link Selection}: done, close, try-with-resources, reuse, timing. */
class SelectionTest {

    static List<Balancer> tracking() {
        return List.of(Balancer.leastRequests(), Balancer.powerOfTwoChoices());
    }

    static List<Balancer> all() {
        return List.of(Balancer.random(), Balancer.roundRobin(), Balancer.weightedRoundRobin(),
                Balancer.powerOfTwoChoices(), Balancer.leastRequests());
    }

    /** A selection of the only node of a new selector. */
    private static Selection selectOnly(Balancer balancer) {
        return selector(balancer, List.of(instance(0))).select();
    }

    @ParameterizedTest
    @MethodSource("tracking")
    void closeWithoutDoneReportsAFailedCall(Balancer balancer) {
        Selection picked = selectOnly(balancer);
        Node node = picked.node();
        assertThat(node.inFlight()).isEqualTo(1);

        picked.close();

        assertThat(node.inFlight()).isZero();
        assertThat(node.successRate()).isLessThan(1.0);
        assertThat(node.latencyNanos()).isPositive();
    }

    @ParameterizedTest
    @MethodSource("tracking")
    void closeAfterDoneReportsNothing(Balancer balancer) {
        Node node;
        try (Selection picked = selectOnly(balancer)) {
            node = picked.node();
            picked.done(Duration.ofMillis(3), true);
        }
        assertThat(node.inFlight()).isZero();
        assertThat(node.successRate()).isEqualTo(1.0);
        assertThat(node.latencyNanos()).isEqualTo(Duration.ofMillis(3).toNanos());
    }

    @ParameterizedTest
    @MethodSource("tracking")
    void closeIsIdempotentAndDoneAfterCloseIsIgnored(Balancer balancer) {
        Selection picked = selectOnly(balancer);
        Node node = picked.node();
        picked.close();
        double afterClose = node.successRate();

        picked.close();
        picked.done(true);
        picked.done(Duration.ofSeconds(1), false);

        assertThat(node.inFlight()).isZero();
        assertThat(node.successRate()).isEqualTo(afterClose);
        assertThatThrownBy(picked::endpoint).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    /**
     * The bug this fixes: an exception between {@code select()} and {@code done()} left the call in flight for
     * good, and least-requests and P2C then avoided the node for the rest of the selector's life. With
     * try-with-resources the call ends as a failure and the node keeps its share.
     */
    @ParameterizedTest
    @MethodSource("tracking")
    void anExceptionBetweenSelectAndDoneDoesNotStarveTheNode(Balancer balancer) {
        // P2C also scores the failure itself: a lower success rate and the failed call's latency, weighted by the
        // time since the node's previous completion. A stall of the test thread of some 20 ms just there (a loaded
        // machine) makes the node score worse than the others for a few seconds, as it should. Such a run proves
        // nothing either way, so it is run again; it takes such a stall in each of five runs to fail.
        for (int run = 0; run < 5; run++) {
            Selector selector = selector(balancer, instances(3));
            Map<String, Integer> counts = new HashMap<>();
            boolean failureAloneMadeItWorse = false;
            int thrown = 0;
            for (int i = 0; i < 3_000; i++) {
                try (Selection picked = selector.select()) {
                    String id = picked.instance().id();
                    counts.merge(id, 1, Integer::sum);
                    if (id.equals("i1") && counts.get(id) == 10) {
                        throw new IllegalStateException("the call failed before done()");
                    }
                    // i1 is the fastest node, so P2C prefers it: it wins every draw it is in (two in three).
                    picked.done(Duration.ofNanos(id.equals("i1") ? 200_000 : 1_000_000), true);
                } catch (IllegalStateException e) {
                    thrown++;
                    failureAloneMadeItWorse = selector.nodes().get(1).stats.cost()
                            >= selector.nodes().get(0).stats.cost();
                }
            }
            assertThat(thrown).isEqualTo(1);
            assertThat(selector.nodes().get(1).inFlight()).isZero();
            if (balancer == Balancer.powerOfTwoChoices() && failureAloneMadeItWorse) {
                continue; // stalled just before the failure: see above
            }
            // Its share is 1 000 under least-requests and 2 000 under P2C; with a call stuck in flight, it would
            // lose every draw after its 10th pick (least-requests: more in flight; P2C: half the score).
            assertThat(counts.get("i1")).isGreaterThan(600);
            return;
        }
        fail("the test thread stalled right before the failure in each of five runs");
    }

    @Test
    void untrackedSelectionsNeitherCountNorRecycle() {
        Selector selector = selector(Balancer.roundRobin(), List.of(instance(0)));
        Selection first = selector.select();
        first.close();
        first.close();
        assertThat(first.endpoint()).hasToString("grpc://10.0.0.1:9000");
        assertThat(selector.select()).isSameAs(first);
        assertThat(first.node().inFlight()).isZero();
    }

    @Test
    void aClosedSelectionIsReusedByItsThreadOnly() throws Exception {
        Selector selector = selector(Balancer.leastRequests(), instances(2));
        Selection first = selector.select();
        first.done(true);
        first.close();
        Selection recycled = selector.select();
        assertThat(recycled).as("recycled on the selecting thread").isSameAs(first);
        recycled.close();

        // Completed and closed on another thread (an asynchronous client): not recycled at all, so no two picks
        // can ever share it.
        Selection async = selector.select();
        ExecutorService other = Executors.newSingleThreadExecutor();
        try {
            CompletableFuture.runAsync(() -> {
                async.done(true);
                async.close();
            }, other).get(30, TimeUnit.SECONDS);
        } finally {
            other.shutdown();
            assertThat(other.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        Selection next = selector.select();
        Selection another = selector.select();
        assertThat(next).isNotSameAs(async).isNotSameAs(another);
        assertThat(another).isNotSameAs(async);
        next.close();
        another.close();
        for (Node node : selector.nodes()) {
            assertThat(node.inFlight()).isZero();
        }
    }

    @ParameterizedTest
    @MethodSource("all")
    void selectingWithTryWithResourcesAllocatesNothing(Balancer balancer) {
        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        assumeThat(mx).isInstanceOf(com.sun.management.ThreadMXBean.class);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) mx;
        assumeThat(threads.isThreadAllocatedMemorySupported()).isTrue();
        threads.setThreadAllocatedMemoryEnabled(true);
        Selector selector = selector(balancer, instances(100));
        long id = Thread.currentThread().getId();
        pickAndComplete(selector, 20_000); // fill this thread's pool, let the JIT compile
        long before = threads.getThreadAllocatedBytes(id);
        pickAndComplete(selector, 20_000);
        long allocated = threads.getThreadAllocatedBytes(id) - before;
        // A selection object per pick would be 700 kB. Allow under a byte per pick on average: room for what the
        // JVM itself may charge to the thread now and then (a JIT deoptimisation, a TLAB refill), none for a pick.
        assertThat(allocated).as("bytes allocated by 22 000 picks").isLessThan(22_000);
    }

    private static void pickAndComplete(Selector selector, int picks) {
        for (int i = 0; i < picks; i++) {
            try (Selection outer = selector.select()) {
                if (i % 10 == 0) { // two selections open at once on one thread, as a call that makes another
                    try (Selection inner = selector.select()) {
                        inner.done(i % 20 == 0);
                    }
                }
                outer.done(true);
            }
        }
    }

    /** Java 21+: virtual threads get a new selection per pick (no pool), and everything else works the same. */
    @Test
    @EnabledForJreRange(min = JRE.JAVA_21)
    void virtualThreadsGetNoPool() throws Exception {
        Selector selector = selector(Balancer.leastRequests(), instances(3));
        Set<Selection> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Runnable picks = () -> {
            for (int i = 0; i < 100; i++) {
                try (Selection picked = selector.select()) {
                    seen.add(picked);
                    picked.done(true);
                }
            }
        };
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        Thread thread = (Thread) Class.forName("java.lang.Thread$Builder").getMethod("start", Runnable.class)
                .invoke(builder, picks);
        thread.join(30_000);
        assertThat(thread.isAlive()).isFalse();
        assertThat(seen).hasSize(100);
        for (Node node : selector.nodes()) {
            assertThat(node.inFlight()).isZero();
        }
    }

    @Test
    void fastCallsAreTimedOneInSixteenAndSlowOnesAlways() {
        Selector selector = selector(Balancer.leastRequests(), List.of(instance(0)));
        Node node = selector.nodes().get(0);
        assertThat(countTimed(selector, 1)).as("a node without a sample").isEqualTo(1);

        selector.select().done(Duration.ofNanos(1_000), true); // 1 us calls: sampled
        // 1 600 picks, each timed with probability 1/16: 100 expected, standard deviation 9.7.
        assertThat(countTimed(selector, 1_600)).isBetween(50, 160);
        assertThat(node.latencyNanos()).isEqualTo(1_000);
        assertThat(node.inFlight()).isZero();

        Selector slow = selector(Balancer.leastRequests(), List.of(instance(0)));
        slow.select().done(Duration.ofMillis(2), true); // 2 ms calls: every one is timed
        assertThat(countTimed(slow, 100)).isEqualTo(100);
    }

    /** Picks and completes with a given latency (keeping the node's average as it is); counts the timed picks. */
    private static int countTimed(Selector selector, int picks) {
        int timed = 0;
        for (int i = 0; i < picks; i++) {
            try (Selection picked = selector.select()) {
                long latency = picked.node().latencyNanos();
                timed += picked.timed() ? 1 : 0;
                picked.done(Duration.ofNanos(latency == 0 ? 1_000 : latency), true);
            }
        }
        return timed;
    }

    @Test
    void anUntimedFailureStillLowersTheSuccessRate() {
        Selector selector = selector(Balancer.leastRequests(), List.of(instance(0)));
        Node node = selector.nodes().get(0);
        selector.select().done(Duration.ofNanos(1_000), true); // 1 us calls: sampled
        Selection picked = selector.select();
        while (picked.timed()) { // 15 in 16 are not
            picked.done(Duration.ofNanos(1_000), true);
            picked = selector.select();
        }
        double before = node.successRate();
        long start = System.nanoTime();
        while (System.nanoTime() - start < 1_000) {
            Thread.onSpinWait(); // the failure's weight grows with the time since the last completion: make it > 0
        }
        picked.done(false);
        assertThat(node.successRate()).isLessThan(before);
        assertThat(node.inFlight()).isZero();
        assertThat(node.latencyNanos()).as("an untimed call has no latency to record").isEqualTo(1_000);
    }

    @Test
    void integrationsCountCallsOnTheNodeWithoutSelections() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(2));
        Node node = selector.pick();
        assertThat(node.inFlight()).isZero();
        long started = node.callStarted();
        assertThat(node.inFlight()).isEqualTo(1);
        node.callFinished(started - Duration.ofMillis(4).toNanos(), true); // as if it had started 4 ms earlier
        assertThat(node.inFlight()).isZero();
        assertThat(node.latencyNanos()).isGreaterThanOrEqualTo(Duration.ofMillis(4).toNanos());

        Node untracked = selector(Balancer.roundRobin(), instances(2)).pick();
        assertThat(untracked.callStarted()).isZero();
        untracked.callFinished(0L, false);
        assertThat(untracked.inFlight()).isZero();
        assertThat(untracked.successRate()).isEqualTo(1.0);
    }
}
