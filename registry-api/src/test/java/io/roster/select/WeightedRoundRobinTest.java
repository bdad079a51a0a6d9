package io.roster.select;

import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.roster.select.TestNodes.count;
import static io.roster.select.TestNodes.instance;
import static io.roster.select.TestNodes.selector;
import static io.roster.select.TestNodes.sequence;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class WeightedRoundRobinTest {
    private static final ServiceInstance A = instance(0, "weight", "5");
    private static final ServiceInstance B = instance(1, "weight", "1");
    private static final ServiceInstance C = instance(2, "weight", "1");

    @Test
    void followsNginxSmoothSequence() {
        Selector selector = selector(Balancer.weightedRoundRobin(), List.of(A, B, C));

        // nginx's documented example: weights 5, 1, 1 give a a b a c a a, then the cycle repeats.
        assertThat(sequence(selector, 14)).containsExactly(
                "i0", "i0", "i1", "i0", "i2", "i0", "i0",
                "i0", "i0", "i1", "i0", "i2", "i0", "i0");
    }

    @Test
    void picksAreProportionalToWeightsWithinOnePercent() {
        int[] weights = {100, 300, 50, 7, 1000};
        List<ServiceInstance> list = new java.util.ArrayList<>();
        long total = 0;
        for (int i = 0; i < weights.length; i++) {
            list.add(instance(i, "weight", Integer.toString(weights[i])));
            total += weights[i];
        }
        Selector selector = selector(Balancer.weightedRoundRobin(), list);

        int picks = 100_000;
        Map<String, Integer> counts = count(selector, picks, id -> Duration.ofMillis(1));

        for (int i = 0; i < weights.length; i++) {
            double expected = (double) picks * weights[i] / total;
            assertThat((double) counts.getOrDefault("i" + i, 0)).as("picks of weight %d", weights[i])
                    .isCloseTo(expected, within(expected * 0.01));
        }
    }

    @Test
    void currentWeightsSurviveAnUnrelatedUpdate() {
        Selector selector = selector(Balancer.weightedRoundRobin(), List.of(A, B, C));
        assertThat(sequence(selector, 3)).containsExactly("i0", "i0", "i1");

        // Same identities (one instance with changed, unrelated metadata) plus an instance without a grpc endpoint:
        // the smooth sequence goes on where it was instead of restarting at a a b.
        ServiceInstance httpOnly = ServiceInstance.builder().name(TestNodes.SERVICE).id("web")
                .endpoint("http://10.9.9.9:8000").build();
        selector.update(List.of(A, B, C.toBuilder().metadata("color", "blue").build(), httpOnly));

        assertThat(sequence(selector, 4)).containsExactly("i0", "i2", "i0", "i0");
    }

    @Test
    void newNodeStartsFreshWhileSurvivorsKeepTheirCurrentWeight() {
        Selector selector = selector(Balancer.weightedRoundRobin(), List.of(A, B, C));
        assertThat(sequence(selector, 4)).containsExactly("i0", "i0", "i1", "i0"); // current: a=-1, b=-3, c=4

        ServiceInstance d = instance(3, "weight", "1");
        selector.update(List.of(A, B, C, d)); // total 8; current a=-1, b=-3, c=4, d=0

        // a=4 b=-2 c=5 d=1 -> c (c=-3); a=9 b=-1 c=-2 d=2 -> a (a=1); a=6 b=0 c=-1 d=3 -> a (a=-2);
        // a=3 b=1 c=0 d=4 -> d. A fresh start would have begun a a.
        assertThat(sequence(selector, 4)).containsExactly("i2", "i0", "i0", "i3");
    }

    @Test
    void zeroWeightNodesAreNeverPickedUnlessAllAreZero() {
        ServiceInstance zero = instance(7, "weight", "0");
        Selector selector = selector(Balancer.weightedRoundRobin(), List.of(zero, instance(8), instance(9)));
        assertThat(sequence(selector, 100)).doesNotContain("i7");

        selector.update(List.of(instance(1, "weight", "0"), instance(2, "weight", "0"), instance(3, "weight", "-4")));
        assertThat(sequence(selector, 6)).containsExactly("i1", "i2", "i3", "i1", "i2", "i3");
    }

    /**
     * nginx's algorithm as written (every node's current weight, O(n) per pick), carrying current weights over
     * list updates by node identity: what the balancer must reproduce pick for pick.
     */
    private static final class Nginx {
        private final Map<String, Long> carried = new HashMap<>();
        private String[] ids = new String[0];
        private long[] weights = new long[0];
        private long[] current = new long[0];
        private long total;

        void update(List<ServiceInstance> instances) {
            for (int i = 0; i < ids.length; i++) {
                carried.put(ids[i], current[i]);
            }
            int n = instances.size();
            ids = new String[n];
            weights = new long[n];
            current = new long[n];
            total = 0;
            for (int i = 0; i < n; i++) {
                ids[i] = instances.get(i).id();
                weights[i] = Node.weight(instances.get(i).metadata().get(Node.WEIGHT_KEY));
                current[i] = carried.getOrDefault(ids[i], 0L);
                total += weights[i];
            }
            carried.clear();
        }

        String pick() {
            int best = 0;
            for (int i = 0; i < ids.length; i++) {
                current[i] += weights[i];
                if (current[i] > current[best]) {
                    best = i;
                }
            }
            current[best] -= total;
            return ids[best];
        }
    }

    private static List<ServiceInstance> weighted(Random random, int count, int[] weights) {
        List<ServiceInstance> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int number = random.nextInt(1_000);
            if (list.stream().noneMatch(x -> x.id().equals("i" + number))) {
                list.add(instance(number, "weight", Integer.toString(weights[random.nextInt(weights.length)])));
            }
        }
        list.sort(java.util.Comparator.comparing(ServiceInstance::id));
        return list;
    }

    @Test
    void matchesNginxPickForPickAcrossListUpdates() {
        Random random = new Random(7);
        int[] few = {50, 100, 100, 150, 200};
        int[] many = new int[40];
        Arrays.setAll(many, i -> 1 + random.nextInt(500));
        for (int[] weights : List.of(few, many)) {
            Nginx nginx = new Nginx();
            Selector selector = Selector.builder(TestNodes.SERVICE, "grpc").balancer(Balancer.weightedRoundRobin())
                    .build();
            List<ServiceInstance> list = weighted(random, 30, weights);
            for (int update = 0; update < 30; update++) {
                selector.update(list);
                nginx.update(list);
                for (int i = 0; i < 2_000; i++) {
                    String expected = nginx.pick();
                    String actual = selector.select().instance().id();
                    if (!actual.equals(expected)) {
                        assertThat(actual).as("update %d, pick %d", update, i).isEqualTo(expected);
                    }
                }
                // Next list: a few instances leave, a few arrive, the rest keep their current weight.
                List<ServiceInstance> next = new ArrayList<>(list);
                next.removeIf(x -> random.nextInt(8) == 0);
                for (ServiceInstance added : weighted(random, 1 + random.nextInt(4), weights)) {
                    if (next.stream().noneMatch(x -> x.id().equals(added.id()))) {
                        next.add(added);
                    }
                }
                next.sort(java.util.Comparator.comparing(ServiceInstance::id));
                list = next.size() > 1 ? next : list;
            }
        }
    }

    @Test
    void matchesNginxOverMoreThanAMillionPicks() {
        // Long enough for the picker to fold its step count into the base weights (every 2^20 picks).
        List<ServiceInstance> list = List.of(instance(0, "weight", "7"), instance(1, "weight", "300"),
                instance(2, "weight", "2147483647"), instance(3, "weight", "300"), instance(4, "weight", "1"));
        Selector selector = selector(Balancer.weightedRoundRobin(), list);
        Nginx nginx = new Nginx();
        nginx.update(list);
        for (int i = 0; i < 1_100_000; i++) {
            String expected = nginx.pick();
            String actual = selector.select().instance().id();
            if (!actual.equals(expected)) {
                assertThat(actual).as("pick %d", i).isEqualTo(expected);
            }
        }
    }

    @Test
    void readsWeightsAsKratosDoes() {
        assertThat(Node.weight(null)).isEqualTo(100);
        assertThat(Node.weight("")).isEqualTo(100);
        assertThat(Node.weight("250")).isEqualTo(250);
        assertThat(Node.weight("+7")).isEqualTo(7);
        assertThat(Node.weight("0")).isZero();
        assertThat(Node.weight("-3")).isZero();
        assertThat(Node.weight(" 10")).isEqualTo(100);
        assertThat(Node.weight("10.5")).isEqualTo(100);
        assertThat(Node.weight("0x10")).isEqualTo(100);
        assertThat(Node.weight("\u0661\u0662")).as("non-ASCII digits").isEqualTo(100);
        assertThat(Node.weight("99999999999999999999")).as("beyond int64").isEqualTo(100);
        assertThat(Node.weight("9999999999")).isEqualTo(Integer.MAX_VALUE);
    }
}
