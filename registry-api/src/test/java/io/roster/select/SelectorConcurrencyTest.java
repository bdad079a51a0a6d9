package io.roster.select;

import io.roster.ServiceInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Four threads select while the list changes 1 000 times. List {@code v} holds instances {@code v .. v+WINDOW-1}
 * (ids are their numbers), so instance {@code k} is listed up to version {@code k} and removed by version
 * {@code k+1}. A pick that began when version {@code v} was published may return an instance of list {@code v} or
 * of a later list, never one with {@code k < v}: that would be an instance gone before {@code select()} began.
 */
class SelectorConcurrencyTest {
    private static final int WINDOW = 5;
    private static final int UPDATES = 1_000;
    private static final int THREADS = 4;

    static List<Balancer> balancers() {
        return List.of(Balancer.random(), Balancer.roundRobin(), Balancer.weightedRoundRobin(),
                Balancer.powerOfTwoChoices(), Balancer.leastRequests());
    }

    private static List<ServiceInstance> list(int version) {
        List<ServiceInstance> list = new ArrayList<>();
        for (int k = version; k < version + WINDOW; k++) {
            list.add(TestNodes.instance(k, "weight", Integer.toString(1 + k % 7)));
        }
        return list;
    }

    @ParameterizedTest
    @MethodSource("balancers")
    void picksOnlyInstancesListedWhenSelectBegan(Balancer balancer) throws Exception {
        Selector selector = TestNodes.selector(balancer, list(0));
        AtomicInteger published = new AtomicInteger();
        AtomicBoolean updating = new AtomicBoolean(true);
        AtomicInteger picks = new AtomicInteger();
        CountDownLatch started = new CountDownLatch(THREADS);
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                results.add(pool.submit(() -> {
                    started.countDown();
                    // Keep selecting until the updates are over and this thread has picked at least a few times.
                    for (int i = 0; updating.get() || i < 100; i++) {
                        int before = published.get();
                        Selection s = selector.select();
                        int k = Integer.parseInt(s.instance().id().substring(1));
                        int after = published.get();
                        s.done(i % 10 != 0);
                        picks.incrementAndGet();
                        if (k < before || k >= after + 1 + WINDOW) {
                            return "picked i" + k + " while versions " + before + ".." + after + " were current";
                        }
                    }
                    return null;
                }));
            }
            started.await();
            for (int v = 1; v <= UPDATES; v++) {
                selector.update(list(v));
                published.set(v);
            }
            updating.set(false);
            for (Future<String> result : results) {
                assertThat(result.get(60, TimeUnit.SECONDS)).isNull();
            }
        } finally {
            updating.set(false);
            pool.shutdownNow();
            assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(picks.get()).isGreaterThanOrEqualTo(THREADS * 100);
        for (Node node : selector.nodes()) {
            assertThat(node.inFlight()).as("every pick was completed").isZero();
        }
    }
}
