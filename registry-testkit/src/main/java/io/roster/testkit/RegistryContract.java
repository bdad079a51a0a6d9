package io.roster.testkit;

import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.RegistryClosedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.WatcherClosedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import static io.roster.testkit.TestInstances.instance;
import static io.roster.testkit.Watching.awaitIds;
import static io.roster.testkit.Watching.ids;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The contract every Roster backend passes. A backend's test extends it and supplies a {@link RegistryFixture}:
 *
 * <pre>{@code
 * class EtcdContractTest extends RegistryContract {
 *     static EtcdServer etcd = EtcdServer.start();
 *     protected RegistryFixture fixture() { return new EtcdFixture(etcd); }
 * }
 * }</pre>
 *
 * <p>Each test uses fresh service names, so tests can share one server. Registries opened through
 * {@link #open()} are closed after each test.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
public abstract class RegistryContract {
    private final List<Registry> opened = Collections.synchronizedList(new ArrayList<>());
    private RegistryFixture fixture;
    private Duration bound;

    /**
     * Returns the backend's fixture; called before each test.
     *
     * @return the fixture
     */
    protected abstract RegistryFixture fixture();

    @BeforeEach
    void setUpContract() {
        fixture = fixture();
        bound = fixture.propagationBound();
    }

    @AfterEach
    void closeRegistries() {
        List<Registry> all;
        synchronized (opened) {
            all = new ArrayList<>(opened);
            opened.clear();
        }
        all.forEach(Registry::close);
    }

    /**
     * Opens a registry through the fixture and closes it after the test.
     *
     * @return the registry
     */
    protected Registry open() {
        Registry registry = fixture.open();
        opened.add(registry);
        return registry;
    }

    @Test
    @DisplayName("01 register then getService returns the instance with every field equal")
    void registerThenGetServiceReturnsEveryField() {
        Registry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c01");
        ServiceInstance instance = instance(service, "i-1")
                .version("v2.3.4-rc.1")
                .metadata("region", "eu-west")
                .metadata("weight", "80")
                .build();

        registrar.register(instance);

        assertThat(registrar.getService(service)).containsExactly(instance);
        await().atMost(bound).untilAsserted(() -> assertThat(observer.getService(service)).containsExactly(instance));
    }

    @Test
    @DisplayName("02 two instances listed; deregistering one leaves the other; unknown deregister is no error")
    void deregisterOneLeavesTheOther() {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c02");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registry.register(a);
        registry.register(b);
        await().atMost(bound).until(() -> observer.getService(service), list -> ids(list).equals(Set.of("a", "b")));

        registry.deregister(a);
        registry.deregister(TestInstances.of(service, "never-registered"));
        observer.deregister(TestInstances.of(TestInstances.serviceName("c02-none"), "x"));

        await().atMost(bound).untilAsserted(() -> assertThat(observer.getService(service)).containsExactly(b));
    }

    @Test
    @DisplayName("03 registering the same id again updates it")
    void registeringTheSameIdUpdates() throws InterruptedException {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c03");
        ServiceInstance first = TestInstances.of(service, "same");
        ServiceInstance updated = first.toBuilder().metadata("zone", "zone-b").metadata("color", "blue").build();
        try (Watcher watcher = observer.watch(service)) {
            registry.register(first);
            Watching.awaitList(watcher, bound, "the first version", list -> list.equals(List.of(first)));

            registry.register(updated);

            Watching.awaitList(watcher, bound, "the updated instance only", list -> list.equals(List.of(updated)));
            await().atMost(bound).untilAsserted(
                    () -> assertThat(observer.getService(service)).containsExactly(updated));
        }
    }

    @Test
    @DisplayName("04 first next() returns the current list promptly, also when empty")
    void firstNextReturnsPromptly() throws InterruptedException {
        Registry registry = open();
        String empty = TestInstances.serviceName("c04-empty");
        String full = TestInstances.serviceName("c04-full");
        ServiceInstance instance = TestInstances.of(full, "one");
        registry.register(instance);
        await().atMost(bound).until(() -> registry.getService(full).size() == 1);

        try (Watcher emptyWatcher = registry.watch(empty); Watcher fullWatcher = open().watch(full)) {
            assertThat(emptyWatcher.next(bound)).as("first next() on a service nobody registered")
                    .contains(List.of());
            assertThat(fullWatcher.next(bound)).as("first next() on a registered service").contains(List.of(instance));
        }
    }

    @Test
    @DisplayName("05 a watcher sees an added instance, a removed one, and the removal of the last one")
    void watcherSeesAddRemoveAndEmpty() throws InterruptedException {
        Registry registry = open();
        String service = TestInstances.serviceName("c05");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(bound)).contains(List.of());

            registry.register(a);
            awaitIds(watcher, bound, Set.of("a"));
            registry.register(b);
            awaitIds(watcher, bound, Set.of("a", "b"));
            registry.deregister(a);
            awaitIds(watcher, bound, Set.of("b"));
            registry.deregister(b);
            awaitIds(watcher, bound, Set.of());
        }
    }

    @Test
    @DisplayName("06 a watcher on 'hello' is not woken by 'hello-admin' or any other service")
    void watcherIgnoresOtherServices() throws InterruptedException {
        Registry registry = open();
        String service = TestInstances.serviceName("c06");
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(bound)).contains(List.of());

            registry.register(TestInstances.of(service + "-admin", "admin"));
            registry.register(TestInstances.of(service + "x", "x"));
            registry.register(TestInstances.of("other-" + service, "other"));
            await().atMost(bound).until(() -> registry.getService(service + "-admin").size() == 1);

            assertThat(watcher.next(fixture.quietPeriod())).as("woken by another service").isEmpty();
            assertThat(registry.getService(service)).isEmpty();

            registry.register(TestInstances.of(service, "mine"));
            awaitIds(watcher, bound, Set.of("mine"));
        }
    }

    @Test
    @DisplayName("07 two watchers on one service both see every change")
    void twoWatchersSeeEveryChange() throws InterruptedException {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c07");
        try (Watcher w1 = observer.watch(service); Watcher w2 = observer.watch(service)) {
            List<Set<String>> steps = List.of(Set.of(), Set.of("a"), Set.of("a", "b"), Set.of("b"), Set.of());
            List<Runnable> changes = List.of(
                    () -> { },
                    () -> registry.register(TestInstances.of(service, "a")),
                    () -> registry.register(TestInstances.of(service, "b")),
                    () -> registry.deregister(TestInstances.of(service, "a")),
                    () -> registry.deregister(TestInstances.of(service, "b")));
            for (int i = 0; i < steps.size(); i++) {
                changes.get(i).run();
                awaitIds(w1, bound, steps.get(i));
                awaitIds(w2, bound, steps.get(i));
            }
        }
    }

    @Test
    @DisplayName("08 close() from another thread unblocks next()")
    void closeUnblocksNext() throws Exception {
        Registry registry = open();
        Watcher watcher = registry.watch(TestInstances.serviceName("c08"));
        assertThat(watcher.next(bound)).isPresent();
        AtomicReference<Throwable> outcome = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                watcher.next();
            } catch (Throwable t) {
                outcome.set(t);
            }
        }, "contract-waiter");
        waiter.start();
        // Close only once the thread is parked in next(), so that the test is about unblocking it.
        await().atMost(bound).until(() -> waiter.getState() == Thread.State.WAITING
                && List.of(waiter.getStackTrace()).stream().anyMatch(f -> f.getMethodName().equals("next")));

        watcher.close();

        waiter.join(bound.toMillis());
        assertThat(waiter.isAlive()).as("next() still blocked after close()").isFalse();
        assertThat(outcome.get()).isInstanceOf(WatcherClosedException.class);
        assertThrows(WatcherClosedException.class, watcher::next);
    }

    @Test
    @DisplayName("09 closing a registry deregisters what it registered")
    void closeDeregisters() throws InterruptedException {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c09");
        registry.register(TestInstances.of(service, "a"));
        registry.register(TestInstances.of(service, "b"));
        try (Watcher watcher = observer.watch(service)) {
            awaitIds(watcher, bound, Set.of("a", "b"));

            registry.close();

            awaitIds(watcher, bound, Set.of());
            assertThat(observer.getService(service)).isEmpty();
            assertThrows(RegistryClosedException.class, () -> registry.register(TestInstances.of(service, "c")));
            assertThrows(RegistryClosedException.class, () -> registry.getService(service));
        }
    }

    @Test
    @DisplayName("10 a registry that dies without deregistering: its instances vanish within the bound")
    void deadRegistryVanishes() throws InterruptedException {
        Registry victim = fixture.open();
        Registry observer = open();
        String service = TestInstances.serviceName("c10");
        ServiceInstance survivor = TestInstances.of(service, "survivor");
        observer.register(survivor);
        victim.register(TestInstances.of(service, "victim"));
        try (Watcher watcher = observer.watch(service)) {
            awaitIds(watcher, bound, Set.of("victim", "survivor"));

            fixture.kill(victim);

            awaitIds(watcher, fixture.deathBound(), Set.of("survivor"));
            assertThat(observer.getService(service)).containsExactly(survivor);
        }
    }

    @Test
    @DisplayName("11 200 instances: all listed, and a watcher converges to all of them")
    void twoHundredInstances() throws InterruptedException {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c11");
        Set<String> expected = new HashSet<>();
        try (Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(bound)).contains(List.of());
            for (int i = 0; i < 200; i++) {
                String id = "i-" + i;
                registry.register(TestInstances.of(service, id));
                expected.add(id);
            }
            awaitIds(watcher, bound.multipliedBy(2), expected);
            await().atMost(bound).until(() -> ids(observer.getService(service)).equals(expected));
        }
    }

    @Test
    @DisplayName("12 8 threads registering and deregistering concurrently: the final list is the expected set")
    void concurrentRegistrations() throws Exception {
        Registry registry = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c12");
        Set<String> expected = Collections.synchronizedSet(new HashSet<>());
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    start.await();
                    List<ServiceInstance> mine = new ArrayList<>();
                    for (int i = 0; i < 10; i++) {
                        ServiceInstance instance = TestInstances.of(service, "t" + thread + "-" + i);
                        registry.register(instance);
                        mine.add(instance);
                    }
                    for (ServiceInstance instance : mine) {
                        if (instance.id().hashCode() % 2 == 0) {
                            registry.deregister(instance);
                        } else {
                            expected.add(instance.id());
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : futures) {
                f.get(bound.toSeconds() * 6, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(expected).isNotEmpty();
        await().atMost(bound).untilAsserted(() -> assertThat(ids(observer.getService(service))).isEqualTo(expected));
        try (Watcher watcher = observer.watch(service)) {
            awaitIds(watcher, bound, expected);
        }
    }

    @Test
    @DisplayName("13 every bad input (null arguments too) is rejected and nothing reaches the registry")
    void badInputIsRejected() throws InterruptedException {
        Registry registry = open();
        String service = TestInstances.serviceName("c13");
        Map<String, Supplier<ServiceInstance.Builder>> bad = new HashMap<>();
        Supplier<ServiceInstance.Builder> good = () -> instance(service, "ok");
        bad.put("blank name", () -> good.get().name(" "));
        bad.put("null name", () -> good.get().name(null));
        bad.put("whitespace in name", () -> good.get().name(service + " x"));
        bad.put("slash in name", () -> good.get().name(service + "/x"));
        bad.put("@@ in name", () -> good.get().name("DEFAULT_GROUP@@" + service));
        bad.put("control character in name", () -> good.get().name(service + "\u0007"));
        bad.put("name too long", () -> good.get().name("a".repeat(254)));
        bad.put("name starting with '-'", () -> good.get().name("-" + service));
        bad.put("blank id", () -> good.get().id(""));
        bad.put("null id", () -> good.get().id(null));
        bad.put("slash in id", () -> good.get().id("a/b"));
        bad.put("id too long", () -> good.get().id("i".repeat(256)));
        bad.put("whitespace in version", () -> good.get().version("v 1"));
        bad.put("version too long", () -> good.get().version("v".repeat(129)));
        bad.put("empty metadata key", () -> good.get().metadata("", "x"));
        bad.put("null metadata value", () -> good.get().metadata("k", null));
        bad.put("endpoint without port", () -> good.get().endpoint("grpc://127.0.0.1"));
        bad.put("endpoint port 0", () -> good.get().endpoint("grpc://127.0.0.1:0"));
        bad.put("endpoint port 65536", () -> good.get().endpoint("grpc://127.0.0.1:65536"));
        bad.put("endpoint with path", () -> good.get().endpoint("http://127.0.0.1:8080/api"));
        bad.put("endpoint without scheme", () -> good.get().endpoint("127.0.0.1:8080"));
        bad.put("unbracketed IPv6", () -> good.get().endpoint("grpc://::1:9000"));
        bad.put("duplicate endpoint", () -> good.get().endpoint("grpc://127.0.0.1:1").endpoint("grpc://127.0.0.1:1"));
        bad.forEach((what, builder) -> assertThatThrownBy(() -> registry.register(builder.get().build()))
                .as(what).isInstanceOf(InvalidInstanceException.class));

        for (ServiceInstance instance : fixture.backendInvalidInstances(service)) {
            Executable register = () -> registry.register(instance);
            assertThrows(InvalidInstanceException.class, register, "backend rule: " + instance);
        }
        for (String name : Arrays.asList("", " ", "a/b", "x@@y", null)) {
            assertThrows(InvalidInstanceException.class, () -> registry.getService(name), "getService " + name);
            assertThrows(InvalidInstanceException.class, () -> registry.watch(name), "watch " + name);
        }
        assertThrows(InvalidInstanceException.class, () -> registry.register(null), "register(null)");
        assertThrows(InvalidInstanceException.class, () -> registry.deregister(null), "deregister(null)");

        assertThat(open().getService(service)).isEmpty();
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(bound)).contains(List.of());
            assertThat(watcher.next(fixture.quietPeriod())).isEmpty();
        }
    }

    @Test
    @DisplayName("14 after close(), no thread the registry started is alive")
    void noThreadOutlivesClose() throws InterruptedException {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        Registry registry = fixture.open();
        String service = TestInstances.serviceName("c14");
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(bound)).isPresent();
            registry.register(TestInstances.of(service, "a"));
            awaitIds(watcher, bound, Set.of("a"));
            assertThat(registry.getService(service)).hasSize(1);
        }
        Watcher leftOpen = registry.watch(service); // close() must close it
        registry.close();

        before.assertNoNewThreads(bound, fixture::isServerThread);
        assertThrows(WatcherClosedException.class, leftOpen::next);
    }

    @Test
    @DisplayName("15 getService of an unknown service is an empty list")
    void unknownServiceIsEmpty() {
        assertThat(open().getService(TestInstances.serviceName("c15-nobody"))).isEmpty();
    }

    @Test
    @DisplayName("16 services() lists every service with an instance, from any registry, and drops an emptied one")
    void servicesListsRegisteredServices() {
        Registry registry = open();
        Registry observer = open();
        String one = TestInstances.serviceName("c16-one");
        String two = TestInstances.serviceName("c16-two");
        registry.register(TestInstances.of(one, "a"));
        registry.register(TestInstances.of(one, "b"));
        ServiceInstance only = TestInstances.of(two, "c");
        registry.register(only);

        await().atMost(bound).untilAsserted(() -> assertThat(observer.services()).contains(one, two));
        List<String> names = observer.services();
        assertThat(names).isSorted().doesNotHaveDuplicates();
        assertThat(registry.services()).contains(one, two);

        registry.deregister(only);
        await().atMost(bound).untilAsserted(() -> assertThat(observer.services()).contains(one).doesNotContain(two));
    }

    @Test
    @DisplayName("17 deregistering an instance this registry did not register touches nothing another registry owns")
    void deregisterOfAnotherRegistrysInstanceTouchesNothing() throws InterruptedException {
        Registry owner = open();
        Registry stranger = open();
        Registry observer = open();
        String service = TestInstances.serviceName("c17");
        ServiceInstance instance = TestInstances.of(service, "owned");
        owner.register(instance);
        await().atMost(bound).untilAsserted(() -> assertThat(observer.getService(service)).containsExactly(instance));

        stranger.deregister(instance); // a copy of someone else's instance: not this registry's to remove

        try (Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next()).containsExactly(instance);
            assertThat(watcher.next(fixture.quietPeriod())).as("the instance must stay registered").isEmpty();
        }
        assertThat(observer.getService(service)).containsExactly(instance);
        owner.deregister(instance);
        await().atMost(bound).untilAsserted(() -> assertThat(observer.getService(service)).isEmpty());
    }
}
