package io.roster.select;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.WatchHub;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;

import static io.roster.select.TestNodes.SERVICE;
import static io.roster.select.TestNodes.count;
import static io.roster.select.TestNodes.instance;
import static io.roster.select.TestNodes.instances;
import static io.roster.select.TestNodes.selector;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.awaitility.Awaitility.await;

class SelectorTest {

    private static Node node(Selector selector, String id) {
        return selector.nodes().stream().filter(n -> n.instance().id().equals(id)).findFirst().orElseThrow();
    }

    @Test
    void statisticsSurviveAnUnrelatedUpdate() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(4));
        count(selector, 2_000, id -> id.equals("i3") ? Duration.ofMillis(20) : Duration.ofMillis(2));
        Selection open = null;
        while (open == null) {
            Selection s = selector.select();
            if (s.instance().id().equals("i0")) {
                open = s; // stays in flight across the update
            } else {
                s.done(Duration.ofMillis(2), true);
            }
        }
        long slowLatency = node(selector, "i3").latencyNanos();
        long slowLastPick = node(selector, "i3").lastPickNanos();
        assertThat(slowLatency).isEqualTo(Duration.ofMillis(20).toNanos());

        // A new instance, an instance with changed metadata (same identity), and one that has no grpc endpoint.
        List<ServiceInstance> next = new ArrayList<>(instances(4));
        next.set(1, next.get(1).toBuilder().metadata("color", "green").build());
        next.add(instance(9));
        next.add(ServiceInstance.builder().name(SERVICE).id("web").endpoint("http://10.2.2.2:80").build());
        selector.update(next);

        assertThat(node(selector, "i3").latencyNanos()).isEqualTo(slowLatency);
        assertThat(node(selector, "i3").lastPickNanos()).isEqualTo(slowLastPick);
        assertThat(node(selector, "i0").inFlight()).isEqualTo(1);
        assertThat(node(selector, "i1").instance().metadata()).containsEntry("color", "green");
        assertThat(node(selector, "i1").latencyNanos()).isEqualTo(Duration.ofMillis(2).toNanos());
        assertThat(node(selector, "i9").latencyNanos()).isZero();

        open.done(Duration.ofMillis(2), true);
        assertThat(node(selector, "i0").inFlight()).isZero();
        // The slow node is still known as slow: it is not tried again as if it were new.
        Map<String, Integer> after = count(selector, 2_000, id -> id.equals("i3") ? Duration.ofMillis(20)
                : Duration.ofMillis(2));
        assertThat(after.getOrDefault("i3", 0)).isLessThan(2_000 / 5 / 5);
    }

    @Test
    void aRemovedNodeComesBackWithFreshStatistics() {
        Selector selector = selector(Balancer.powerOfTwoChoices(), instances(2));
        count(selector, 100, id -> Duration.ofMillis(3));
        selector.update(List.of(instance(0)));
        selector.update(instances(2));
        assertThat(node(selector, "i1").latencyNanos()).isZero();
        assertThat(node(selector, "i0").latencyNanos()).isEqualTo(Duration.ofMillis(3).toNanos());
    }

    @Test
    void doneCountsOnce() {
        Selector selector = selector(Balancer.leastRequests(), instances(1));
        Selection s = selector.select();
        assertThat(s.node().inFlight()).isEqualTo(1);
        s.done(true);
        s.done(false);
        s.done(Duration.ofSeconds(1), false);
        assertThat(s.node().inFlight()).isZero();
        assertThat(s.node().successRate()).isEqualTo(1.0);
    }

    @Test
    void untrackedSelectionsAreSharedPerNode() {
        Selector selector = selector(Balancer.roundRobin(), instances(2));
        Selection first = selector.select();
        selector.select();
        assertThat(selector.select()).isSameAs(first);
        first.done(false);
        assertThat(first.node().inFlight()).isZero();
        assertThat(first.node().successRate()).isEqualTo(1.0);
    }

    @Test
    void closedSelectorRefusesToSelectAndIgnoresUpdates() {
        Selector selector = selector(Balancer.random(), instances(2));
        selector.close();
        selector.close();
        selector.update(instances(3));
        assertThat(selector.nodes()).hasSize(2);
        assertThatThrownBy(selector::select).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void followsAWatcherOnItsOwnThreadUntilClosed() throws Exception {
        try (Registry registry = Registries.open("mem://select-" + UUID.randomUUID());
             Watcher watcher = registry.watch(SERVICE)) {
            registry.register(instance(1));
            Selector selector = Selector.builder(SERVICE, "grpc").balancer(Balancer.roundRobin()).watch(watcher);
            try {
                // The first list is applied before watch() returns.
                assertThat(selector.select().instance().id()).isEqualTo("i1");
                assertThat(threadNamed("roster-select-" + SERVICE)).isNotNull();

                registry.register(instance(2));
                await().atMost(Duration.ofSeconds(30)).until(() -> selector.nodes().size() == 2);
                registry.deregister(instance(1));
                await().atMost(Duration.ofSeconds(30)).until(() -> selector.nodes().size() == 1);
                assertThat(selector.select().instance().id()).isEqualTo("i2");
            } finally {
                selector.close();
            }
            assertThat(threadNamed("roster-select-" + SERVICE)).isNull();
            // The watcher belongs to the caller and is still usable.
            assertThat(watcher.next(Duration.ofMillis(1))).isEmpty();
        }
    }

    @Test
    void threadEndsWhenTheWatcherIsClosed() throws Exception {
        try (Registry registry = Registries.open("mem://select-" + UUID.randomUUID())) {
            Watcher watcher = registry.watch(SERVICE);
            try (Selector selector = Selector.builder(SERVICE, "grpc").watch(watcher)) {
                Thread thread = threadNamed("roster-select-" + SERVICE);
                assertThat(thread).isNotNull();
                assertThatThrownBy(selector::select).isInstanceOf(NoAvailableInstanceException.class)
                        .hasMessageContaining("0 instance(s) listed");
                watcher.close();
                thread.join(30_000);
                assertThat(thread.isAlive()).isFalse();
            }
        }
    }

    /**
     * A backend's watch as every backend builds it ({@link WatchHub}), whose source has not answered yet: the
     * registry is unreachable, so the watcher has no first list until the test pushes one through {@link #sink}.
     */
    private static final class UnreachableBackend implements AutoCloseable {
        private final AtomicReference<WatchHub.Sink> sink = new AtomicReference<>();
        private final WatchHub hub = new WatchHub((service, s) -> {
            sink.set(s);
            return () -> { };
        });

        Watcher watch() {
            return hub.watch(SERVICE);
        }

        /** The backend is back and answers with this list. */
        void answer(List<ServiceInstance> list) {
            sink.get().accept(list);
        }

        @Override
        public void close() {
            hub.close();
        }
    }

    @Test
    void watchReturnsAfterTheFirstListWaitWhenTheRegistryIsUnreachable() throws Exception {
        UnreachableBackend backend = new UnreachableBackend();
        Watcher watcher = backend.watch();
        Selector selector = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> Selector.builder(SERVICE, "grpc")
                .balancer(Balancer.leastRequests()).firstListWait(Duration.ofMillis(100)).watch(watcher));
        try {
            assertThat(selector.nodes()).isEmpty();
            // select() does not wait: it fails at once, saying that no list has arrived yet.
            assertThatThrownBy(selector::select).isInstanceOf(NoAvailableInstanceException.class)
                    .hasMessageContaining("no instance list received yet");
            Thread thread = threadNamed("roster-select-" + SERVICE);
            assertThat(thread).as("the selector keeps following the watcher").isNotNull();

            backend.answer(List.of(instance(1)));
            await().atMost(Duration.ofSeconds(30)).until(() -> selector.nodes().size() == 1);
            Selection picked = selector.select();
            assertThat(picked.instance().id()).isEqualTo("i1");
            picked.done(true);
            selector.close();
            thread.join(30_000);
            assertThat(thread.isAlive()).isFalse();
        } finally {
            selector.close();
            backend.close();
        }
    }

    @Test
    void watchWaitsForTheFirstListAtMostTheDefaultFiveSeconds() {
        UnreachableBackend backend = new UnreachableBackend();
        Watcher watcher = backend.watch();
        assertThat(Selector.DEFAULT_FIRST_LIST_WAIT).isEqualTo(Duration.ofSeconds(5));
        long start = System.nanoTime();
        Selector selector = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> Selector.builder(SERVICE, "grpc").watch(watcher));
        selector.close();
        backend.close();
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void watchTakesAListTheWatcherHoldsWithoutWaiting() throws Exception {
        try (UnreachableBackend backend = new UnreachableBackend();
             Watcher watcher = backend.watch()) {
            backend.answer(List.of(instance(3)));
            try (Selector selector = Selector.builder(SERVICE, "grpc").firstListWait(Duration.ZERO).watch(watcher)) {
                assertThat(selector.select().instance().id()).isEqualTo("i3");
            }
        }
    }

    @Test
    void firstListWaitMustBeZeroOrPositive() {
        Selector.Builder builder = Selector.builder(SERVICE, "grpc");
        assertThatThrownBy(() -> builder.firstListWait(Duration.ofMillis(-1)))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("firstListWait");
        assertThatThrownBy(() -> builder.firstListWait(null)).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("firstListWait");
    }

    @Test
    void watcherOfAnotherServiceIsRejected() throws Exception {
        try (Registry registry = Registries.open("mem://select-" + UUID.randomUUID());
             Watcher watcher = registry.watch("other")) {
            assertThatThrownBy(() -> Selector.builder(SERVICE, "grpc").watch(watcher))
                    .isInstanceOf(io.roster.InvalidOptionException.class).hasMessageContaining("'other'");
        }
    }

    private static Thread threadNamed(String name) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name) && t.isAlive())
                .findFirst().orElse(null);
    }
}
