package io.roster.select;

import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.roster.select.TestNodes.count;
import static io.roster.select.TestNodes.instance;
import static io.roster.select.TestNodes.instances;
import static io.roster.select.TestNodes.selector;
import static io.roster.select.TestNodes.sequence;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Random, round-robin, power of two choices and least requests; weighted round-robin has its own test. */
class BalancerTest {
    private static final Duration FAST = Duration.ofMillis(1);

    @Test
    void randomIsUniformWithinTwoPercent() {
        // 1 000 000 picks over 10 nodes: 100 000 expected each, one standard deviation is 300, 2 % is 6.7 of them.
        Map<String, Integer> counts = count(selector(Balancer.random(), instances(10)), 1_000_000, id -> FAST);

        assertThat(counts).hasSize(10);
        counts.forEach((id, n) -> assertThat((double) n).as(id).isCloseTo(100_000, within(2_000.0)));
    }

    @Test
    void roundRobinIsUniformAndVisitsInListOrder() {
        Selector selector = selector(Balancer.roundRobin(), instances(10));

        List<String> first = sequence(selector, 20);
        int start = Integer.parseInt(first.get(0).substring(1));
        for (int i = 0; i < 20; i++) {
            assertThat(first.get(i)).isEqualTo("i" + (start + i) % 10);
        }
        Map<String, Integer> counts = count(selector, 100_000, id -> FAST);
        counts.forEach((id, n) -> assertThat(n).as(id).isEqualTo(10_000));
    }

    @Test
    void roundRobinRotationContinuesAcrossUpdates() {
        Selector selector = selector(Balancer.roundRobin(), instances(3));
        List<String> before = sequence(selector, 3);
        int last = Integer.parseInt(before.get(2).substring(1));

        selector.update(instances(3)); // an equal list: a fresh random start would repeat ids or skip some
        assertThat(sequence(selector, 3)).containsExactly("i" + (last + 1) % 3, "i" + (last + 2) % 3, "i" + last);
    }

    @Test
    void roundRobinStaysFairAcrossThreads() throws Exception {
        // Each thread uses one of the striped counters, each an exact rotation: over any run, a node's count is
        // its fair share plus or minus one per counter in use.
        Selector selector = selector(Balancer.roundRobin(), instances(10));
        int threads = 4;
        int picks = 25_000;
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        Map<String, Integer> counts = new HashMap<>();
        try {
            List<Future<Map<String, Integer>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                results.add(pool.submit(() -> {
                    start.await();
                    Map<String, Integer> mine = new HashMap<>();
                    for (int i = 0; i < picks; i++) {
                        mine.merge(selector.select().instance().id(), 1, Integer::sum);
                    }
                    return mine;
                }));
            }
            for (Future<Map<String, Integer>> result : results) {
                result.get(60, TimeUnit.SECONDS).forEach((id, n) -> counts.merge(id, n, Integer::sum));
            }
        } finally {
            pool.shutdownNow();
            assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(counts).hasSize(10);
        counts.forEach((id, n) -> assertThat(n).as(id).isBetween(10_000 - threads, 10_000 + threads));
    }

    @Test
    void roundRobinUsesTwoCountersPerProcessorUpToThirtyTwo() {
        assertThat(RoundRobinBalancer.Counters.stripes(1)).isEqualTo(2);
        assertThat(RoundRobinBalancer.Counters.stripes(2)).isEqualTo(4);
        assertThat(RoundRobinBalancer.Counters.stripes(3)).isEqualTo(8);
        assertThat(RoundRobinBalancer.Counters.stripes(16)).isEqualTo(32);
        assertThat(RoundRobinBalancer.Counters.stripes(96)).isEqualTo(32);
    }

    @Test
    void powerOfTwoChoicesAvoidsANodeTenTimesSlower() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(5));

        Map<String, Integer> counts = count(selector, 20_000,
                id -> id.equals("i3") ? Duration.ofMillis(10) : Duration.ofMillis(1));

        assertThat(counts.getOrDefault("i3", 0)).isLessThan(20_000 / 5);
        assertThat(counts).containsKeys("i0", "i1", "i2", "i4");
    }

    @Test
    void powerOfTwoChoicesDrawsTwoDistinctNodes() {
        // With two nodes every draw is the pair itself, so the slower one loses every comparison after its first
        // call; a balancer that may draw one node twice would still send it a quarter of the calls.
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(2));

        Map<String, Integer> counts = count(selector, 10_000,
                id -> id.equals("i1") ? Duration.ofMillis(10) : Duration.ofMillis(1));

        assertThat(counts.getOrDefault("i1", 0)).isLessThan(10);
    }

    @Test
    void powerOfTwoChoicesTriesANewNodeAtOnceThenJudgesItByItsLatency() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), List.of(instance(0)));
        selector.select().done(FAST, true);

        selector.update(List.of(instance(0), instance(1)));
        // i1 has no sample, so it scores worse than i0, but it was never picked: the forced pick tries it.
        Selection forced = selector.select();
        assertThat(forced.instance().id()).isEqualTo("i1");
        forced.done(Duration.ofMillis(50), true);

        // Only a stall of more than 3 s within these 1 000 picks could force i1 once more.
        Map<String, Integer> counts = count(selector, 1_000, id -> id.equals("i1") ? Duration.ofMillis(50) : FAST);
        assertThat(counts.getOrDefault("i1", 0)).isLessThanOrEqualTo(1);
    }

    @Test
    void powerOfTwoChoicesAvoidsAFailingNode() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(4));
        int failingPicks = 0;
        for (int i = 0; i < 10_000; i++) {
            Selection s = selector.select();
            boolean failing = s.instance().id().equals("i2");
            failingPicks += failing ? 1 : 0;
            s.done(FAST, !failing);
        }
        assertThat(failingPicks).isLessThan(10_000 / 4 / 5);
        assertThat(selector.nodes().get(2).successRate()).isLessThan(0.5);
    }

    @Test
    void leastRequestsAvoidsANodeWithCallsInFlight() {
        Selector selector = selector(Balancer.leastRequests(), instances(3));
        List<Selection> open = new ArrayList<>();
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 3_000; i++) {
            Selection s = selector.select();
            counts.merge(s.instance().id(), 1, Integer::sum);
            if (s.instance().id().equals("i1")) {
                open.add(s); // i1's calls never finish
            } else {
                s.done(true);
            }
        }
        // Once i1 has a call in flight it loses every comparison with a node that has none.
        assertThat(counts.get("i1")).isEqualTo(1);
        assertThat(selector.nodes().get(1).inFlight()).isEqualTo(1);
        open.forEach(s -> s.done(true));
        assertThat(selector.nodes().get(1).inFlight()).isZero();
    }

    @Test
    void aSingleNodeIsAlwaysPicked() {
        for (Balancer balancer : List.of(Balancer.random(), Balancer.roundRobin(), Balancer.weightedRoundRobin(),
                Balancer.powerOfTwoChoices(), Balancer.leastRequests())) {
            Selector selector = selector(balancer, List.of(instance(4)));
            assertThat(sequence(selector, 5)).as(balancer.toString()).containsOnly("i4");
        }
    }

    @Test
    void customBalancerPlugsIn() {
        // Always the node with the highest weight: a policy of the caller's own, through the Balancer SPI.
        Balancer heaviest = (nodes, previous) -> {
            Node best = nodes.get(0);
            for (Node node : nodes) {
                best = node.weight() > best.weight() ? node : best;
            }
            Node chosen = best;
            return () -> chosen;
        };
        List<ServiceInstance> list = List.of(instance(0, "weight", "10"), instance(1, "weight", "30"), instance(2));
        assertThat(sequence(selector(heaviest, list), 3)).containsOnly("i2");
    }
}
