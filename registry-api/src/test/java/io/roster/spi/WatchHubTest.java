package io.roster.spi;

import io.roster.RegistryClosedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class WatchHubTest {
    private static final Duration SHORT = Duration.ofMillis(50);

    /** A source whose pushes the test drives by hand. */
    static final class ManualSource implements WatchHub.Source {
        final Map<String, WatchHub.Sink> sinks = new HashMap<>();
        final AtomicInteger subscribed = new AtomicInteger();
        final AtomicInteger closed = new AtomicInteger();
        List<ServiceInstance> initial;

        @Override
        public synchronized WatchHub.Subscription subscribe(String service, WatchHub.Sink sink) {
            subscribed.incrementAndGet();
            sinks.put(service, sink);
            if (initial != null) {
                sink.accept(initial);
            }
            return closed::incrementAndGet;
        }

        synchronized void push(String service, ServiceInstance... instances) {
            sinks.get(service).accept(List.of(instances));
        }
    }

    private static ServiceInstance instance(String id) {
        return ServiceInstance.builder().name("svc").id(id).build();
    }

    @Test
    void firstNextReturnsTheFirstListEvenWhenEmpty() throws InterruptedException {
        ManualSource source = new ManualSource();
        source.initial = List.of();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            assertThat(w.next(SHORT)).contains(List.of());
            assertThat(w.next(SHORT)).isEmpty();
        }
    }

    @Test
    void firstNextWaitsUntilTheBackendHasAnswered() throws InterruptedException {
        ManualSource source = new ManualSource();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            assertThat(w.next(SHORT)).isEmpty();
            source.push("svc");
            assertThat(w.next(SHORT)).contains(List.of());
        }
    }

    @Test
    void newestListWinsAndListsAreSortedById() throws InterruptedException {
        ManualSource source = new ManualSource();
        source.initial = List.of();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            w.next();
            source.push("svc", instance("b"));
            source.push("svc", instance("c"), instance("a"));
            assertThat(w.next()).containsExactly(instance("a"), instance("c"));
            assertThat(w.next(SHORT)).isEmpty();
        }
    }

    @Test
    void anEqualListDoesNotWakeTheCaller() throws InterruptedException {
        ManualSource source = new ManualSource();
        source.initial = List.of(instance("a"));
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            w.next();
            source.push("svc", instance("a"));
            assertThat(w.next(SHORT)).isEmpty();
            // A -> B -> A between two calls is no change either.
            source.push("svc", instance("b"));
            source.push("svc", instance("a"));
            assertThat(w.next(SHORT)).isEmpty();
            source.push("svc", instance("b"));
            assertThat(w.next(SHORT)).contains(List.of(instance("b")));
        }
    }

    @Test
    void watchersShareOneSubscriptionClosedWithTheLast() throws InterruptedException {
        ManualSource source = new ManualSource();
        source.initial = List.of(instance("a"));
        try (WatchHub hub = new WatchHub(source)) {
            Watcher w1 = hub.watch("svc");
            Watcher w2 = hub.watch("svc");
            assertThat(source.subscribed).hasValue(1);
            assertThat(w2.next(SHORT)).contains(List.of(instance("a")));
            source.push("svc", instance("b"));
            assertThat(w1.next(SHORT)).contains(List.of(instance("b")));
            assertThat(w2.next(SHORT)).contains(List.of(instance("b")));
            assertThat(hub.current("svc")).contains(List.of(instance("b")));
            w1.close();
            assertThat(source.closed).hasValue(0);
            w2.close();
            w2.close();
            assertThat(source.closed).hasValue(1);
            assertThat(hub.current("svc")).isEmpty();

            Watcher w3 = hub.watch("svc");
            assertThat(source.subscribed).hasValue(2);
            w3.close();
        }
    }

    @Test
    void aLateWatcherStartsFromTheCurrentList() throws InterruptedException {
        ManualSource source = new ManualSource();
        source.initial = List.of();
        try (WatchHub hub = new WatchHub(source); Watcher w1 = hub.watch("svc")) {
            source.push("svc", instance("a"));
            try (Watcher w2 = hub.watch("svc")) {
                assertThat(w2.next(SHORT)).contains(List.of(instance("a")));
            }
            assertThat(w1.next(SHORT)).contains(List.of(instance("a")));
        }
    }

    @Test
    void closeUnblocksAWaitingNext() throws Exception {
        ManualSource source = new ManualSource();
        source.initial = List.of();
        try (WatchHub hub = new WatchHub(source)) {
            Watcher w = hub.watch("svc");
            w.next();
            AtomicReference<Throwable> thrown = new AtomicReference<>();
            CountDownLatch done = new CountDownLatch(1);
            Thread t = new Thread(() -> {
                try {
                    w.next();
                } catch (Throwable e) {
                    thrown.set(e);
                }
                done.countDown();
            });
            t.start();
            await().until(() -> t.getState() == Thread.State.WAITING);
            w.close();
            done.await();
            assertThat(thrown.get()).isInstanceOf(WatcherClosedException.class);
            assertThatThrownBy(() -> w.next(SHORT)).isInstanceOf(WatcherClosedException.class);
        }
    }

    @Test
    void closingTheHubClosesEverything() {
        ManualSource source = new ManualSource();
        WatchHub hub = new WatchHub(source);
        Watcher a = hub.watch("a");
        Watcher b = hub.watch("b");
        hub.close();
        assertThat(source.closed).hasValue(2);
        assertThatThrownBy(a::next).isInstanceOf(WatcherClosedException.class);
        assertThatThrownBy(b::next).isInstanceOf(WatcherClosedException.class);
        assertThatThrownBy(() -> hub.watch("a")).isInstanceOf(RegistryClosedException.class);
    }

    @Test
    void aFailedSubscriptionLeavesNothingBehind() {
        AtomicInteger attempts = new AtomicInteger();
        WatchHub hub = new WatchHub((service, sink) -> {
            if (attempts.incrementAndGet() == 1) {
                throw new IllegalStateException("backend down");
            }
            sink.accept(List.of());
            return () -> { };
        });
        assertThatThrownBy(() -> hub.watch("svc")).hasMessage("backend down");
        assertThat(hub.current("svc")).isEmpty();
        // The next watch subscribes again (Kratos's Consul watcher never would: its set stays half-registered).
        try (Watcher w = hub.watch("svc")) {
            assertThat(w.next(SHORT)).contains(List.of());
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertThat(attempts).hasValue(2);
        hub.close();
    }

    @Test
    void pushesFromManyThreadsKeepTheirOrderPerWatcher() throws Exception {
        ManualSource source = new ManualSource();
        source.initial = List.of();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            w.next();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread thread = new Thread(() -> {
                    for (int i = 0; i < 500; i++) {
                        source.push("svc", instance(Thread.currentThread().getName() + "-" + i));
                    }
                }, "pusher-" + t);
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                thread.join();
            }
            source.push("svc", instance("final"));
            Optional<List<ServiceInstance>> last = Optional.empty();
            while (true) {
                Optional<List<ServiceInstance>> next = w.next(SHORT);
                if (next.isEmpty()) {
                    break;
                }
                last = next;
            }
            assertThat(last).contains(List.of(instance("final")));
        }
    }

    @Test
    void keyedChangesReachWatchersSortedAndUnchangedRecordsWakeNobody() throws InterruptedException {
        ManualSource source = new ManualSource();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            WatchHub.Sink sink = source.sinks.get("svc");
            ServiceInstance a = instance("a");
            ServiceInstance c = instance("c");
            sink.reset(Map.of("/k/c", c, "/k/a", a));
            assertThat(w.next(SHORT)).contains(List.of(a, c));

            ServiceInstance b = instance("b");
            sink.apply(Map.of("/k/b", b), List.of());
            assertThat(w.next(SHORT)).contains(List.of(a, b, c));

            sink.apply(Map.of("/k/a", instance("a")), List.of("/k/unknown")); // equal record, unknown key
            assertThat(w.next(SHORT)).isEmpty();

            ServiceInstance a2 = instance("a").toBuilder().version("v2").build();
            sink.apply(Map.of("/k/a", a2), List.of("/k/c"));
            List<ServiceInstance> list = w.next(SHORT).orElseThrow();
            assertThat(list).containsExactly(a2, b);
            assertThatThrownBy(() -> list.add(c)).isInstanceOf(UnsupportedOperationException.class);

            sink.apply(Map.of(), List.of("/k/a", "/k/b"));
            assertThat(w.next(SHORT)).contains(List.of());
        }
    }

    @Test
    void twoRecordsWithOneIdAreBothListedAndRemovedByKey() throws InterruptedException {
        ManualSource source = new ManualSource();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            WatchHub.Sink sink = source.sinks.get("svc");
            ServiceInstance x = instance("x");
            sink.reset(Map.of("/k/1", x, "/k/2", x));
            assertThat(w.next(SHORT)).contains(List.of(x, x));
            sink.apply(Map.of(), List.of("/k/2"));
            assertThat(w.next(SHORT)).contains(List.of(x));
        }
    }

    @Test
    void aWholeListAfterKeyedRecordsReplacesThem() throws InterruptedException {
        ManualSource source = new ManualSource();
        try (WatchHub hub = new WatchHub(source); Watcher w = hub.watch("svc")) {
            WatchHub.Sink sink = source.sinks.get("svc");
            sink.reset(Map.of("/k/a", instance("a")));
            assertThat(w.next(SHORT)).contains(List.of(instance("a")));
            sink.accept(List.of(instance("z")));
            assertThat(w.next(SHORT)).contains(List.of(instance("z")));
            sink.apply(Map.of("/k/b", instance("b")), List.of()); // starts from nothing after a whole list
            assertThat(w.next(SHORT)).contains(List.of(instance("b")));
        }
    }
}
