package io.roster.select;

import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

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
