package io.roster.nacos;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Server restarts and outages: one stand-in per test, since each test stops it. */
class NacosRecoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(20);

    private NacosStandIn server;
    private final List<Registry> registries = new ArrayList<>();

    @BeforeEach
    void start() {
        server = NacosStandIn.start();
    }

    @AfterEach
    void stop() {
        registries.forEach(Registry::close);
        server.close();
    }

    private Registry open() {
        return open(server.address(), "timeout=2s");
    }

    /** Opens a registry that is closed after the test. */
    private Registry open(String address, String query) {
        Registry registry = Registries.open("nacos://" + address + "?" + query);
        registries.add(registry);
        return registry;
    }

    @Test
    void restartedServerGetsTheInstancesBackAndWatchersFollow() throws InterruptedException {
        Registry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("restart");
        // Two instances in one registry: each of the two services is sent as a batch, which redo must resend.
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registrar.register(a);
        registrar.register(b);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));

            server.restart();
            assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).isEmpty();

            await().atMost(BOUND).untilAsserted(() -> {
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).hasSize(2);
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).hasSize(2);
            });
            await().atMost(BOUND).untilAsserted(() -> assertThat(observer.getService(service)).containsExactly(a, b));
            // The watcher follows the new server: its subscription was renewed too.
            ServiceInstance c = TestInstances.of(service, "c");
            registrar.register(c);
            Watching.awaitList(watcher, BOUND, "a, b and c", list -> list.equals(List.of(a, b, c)));
        }
        assertThat(server.requestTypes()).contains("BatchInstanceRequest");
    }

    @Test
    void outageKeepsWatchedListsAndFailsOtherCallsClearly() throws InterruptedException {
        Registry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("outage");
        ServiceInstance a = TestInstances.of(service, "a");
        registrar.register(a);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a"));

            server.stop();

            assertThat(watcher.next(Duration.ofSeconds(2))).as("an outage pushes nothing").isEmpty();
            assertThat(observer.getService(service)).as("the watched list while down").containsExactly(a);
            assertThatThrownBy(() -> observer.getService(TestInstances.serviceName("unwatched")))
                    .isInstanceOf(RegistryUnavailableException.class).hasMessageContaining("nacos at");
            ServiceInstance failed = TestInstances.of(service, "failed");
            assertThatThrownBy(() -> registrar.register(failed)).isInstanceOf(RegistryUnavailableException.class);

            server.restart();

            // a comes back through redo; the failed registration was rolled back and stays away.
            ServiceInstance b = TestInstances.of(service, "b");
            await().atMost(BOUND).untilAsserted(() -> {
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).hasSize(1);
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).hasSize(1);
            });
            assertThat(observer.getService(service)).containsExactly(a);
            registrar.register(b);
            Watching.awaitList(watcher, BOUND, "a and b", list -> list.equals(List.of(a, b)));
            assertThat(observer.getService(service)).containsExactly(a, b);
        }
    }

    @Test
    void anOlderSetLeftOnTheServerIsSentAgain() throws InterruptedException {
        Registry registrar = open(server.address(), "timeout=2s&verify=500ms");
        Registry observer = open();
        String service = TestInstances.serviceName("stale");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registrar.register(a);
        registrar.register(b);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));
            long sent = registrations();

            // What redo re-sending its older cache over a newer registration leaves behind: only "a".
            server.rewrite(service + ".grpc", list -> List.of(list.get(0)));
            server.rewrite(service + ".http", list -> List.of(list.get(0)));

            await().atMost(BOUND).untilAsserted(() -> {
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).hasSize(2);
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).hasSize(2);
            });
            assertThat(registrations()).as("sent again").isGreaterThan(sent);
            assertThat(observer.getService(service)).containsExactly(a, b);
        }
    }

    @Test
    void nothingIsSentAgainWhileTheServerAgrees() {
        Registry registrar = open(server.address(), "timeout=2s&verify=200ms");
        String service = TestInstances.serviceName("steady");
        registrar.register(TestInstances.of(service, "a"));
        registrar.register(TestInstances.of(service, "b"));
        long sent = registrations();
        long queries = count("ServiceQueryRequest");

        // Several checks run (two services each), and none of them registers anything.
        await().atMost(BOUND).until(() -> count("ServiceQueryRequest") >= queries + 8);
        assertThat(registrations()).isEqualTo(sent);
    }

    private long registrations() {
        return count("BatchInstanceRequest") + count("InstanceRequest");
    }

    private long count(String type) {
        return server.requestTypes().stream().filter(type::equals).count();
    }

    // ------------------------------------------------------------------ deregistrations are finished, never undone

    @Test
    void aDeregistrationDuringAnOutageIsFinishedWhenTheServerIsBackNotUndone() {
        Registry registrar = open(server.address(), "timeout=2s&verify=500ms&reconnectGrace=1s");
        String alone = TestInstances.serviceName("outage-single");
        String together = TestInstances.serviceName("outage-batch");
        ServiceInstance a = TestInstances.of(alone, "a");
        ServiceInstance b1 = TestInstances.of(together, "b1");
        ServiceInstance b2 = TestInstances.of(together, "b2");
        registrar.register(a); // alone in its services: a single registration
        registrar.register(b1); // two in their services: a batch
        registrar.register(b2);

        server.stop();
        assertThatThrownBy(() -> registrar.deregister(a)).isInstanceOf(RegistryUnavailableException.class)
                .hasMessageContaining("pending");
        assertThatThrownBy(() -> registrar.deregister(b1)).isInstanceOf(RegistryUnavailableException.class);
        server.restart();

        // nacos-client's redo sends everything it holds in one pass: once b2 is back, a and b1 had their turn.
        await().atMost(BOUND).untilAsserted(() -> assertThat(grpcIps(together)).hasSize(1));
        long checks = count("ServiceQueryRequest");
        await().atMost(BOUND).until(() -> count("ServiceQueryRequest") >= checks + 6); // several checks ran
        assertThat(server.instances("public", "DEFAULT_GROUP", alone + ".grpc")).isEmpty();
        assertThat(server.instances("public", "DEFAULT_GROUP", alone + ".http")).isEmpty();
        assertThat(open().getService(together)).containsExactly(b2);
        assertThat(open().getService(alone)).isEmpty();

        registrar.deregister(a); // nothing left to do: touches nothing
        assertThat(open().getService(together)).containsExactly(b2);
    }

    @Test
    void aDeregistrationOverwrittenByALateRedoIsSentAgain() {
        // The timeout leaves time to deregister while redo's request is held, before it times out. The check waits
        // for the grace period after a reconnection, by when redo (every 3 s) has sent its batches.
        Registry registrar = open(server.address(), "timeout=10s&verify=500ms&reconnectGrace=5s");
        String service = TestInstances.serviceName("late-redo");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registrar.register(a);
        registrar.register(b);

        // After a restart, redo re-sends the batch {a, b} of .grpc, then of .http (read before the deregistration
        // too); the server gets them only after the deregistration of a.
        NacosStandIn.Gate late = server.hold("BatchInstanceRequest");
        server.restart();
        await().atMost(BOUND).until(() -> late.held() >= 1);
        registrar.deregister(a);
        long sent = registrations();
        late.release(); // the server now applies {a, b} again, twice

        // Nothing of ours is missing then: only the check for left-over ids finds a, and sends {b} again.
        await().atMost(BOUND).untilAsserted(() -> {
            assertThat(grpcIps(service)).hasSize(1);
            assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).hasSize(1);
        });
        assertThat(registrations()).as("sent again").isGreaterThan(sent);
        assertThat(open().getService(service)).containsExactly(b);
    }

    @Test
    void aServiceIsStillCheckedAfterItsLastInstanceLeft() throws Exception {
        Registry registrar = open(server.address(), "timeout=3s&verify=500ms&reconnectGrace=5s");
        String service = TestInstances.serviceName("late-redo-empty");
        registrar.register(TestInstances.of(service, "a"));
        registrar.register(TestInstances.of(service, "b"));

        NacosStandIn.Gate late = server.hold("BatchInstanceRequest");
        server.restart();
        await().atMost(BOUND).until(() -> late.held() >= 1);
        registrar.deregister(TestInstances.of(service, "a"));
        registrar.deregister(TestInstances.of(service, "b"));
        // Redo's requests time out and its next run forgets the removed services: once the late batches arrive,
        // nacos-client has nothing left that would take them back.
        Map<String, ?> redo = redoCache(registrar);
        await().atMost(BOUND).until(() -> redo.keySet().stream().noneMatch(k -> k.contains(service)));
        long sent = registrations();
        late.release(); // the server now holds {a, b} again, which this registry no longer has at all

        await().atMost(BOUND).untilAsserted(() -> {
            assertThat(grpcIps(service)).isEmpty();
            assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).isEmpty();
        });
        assertThat(registrations()).as("sent again").isGreaterThan(sent);
        assertThat(open().getService(service)).isEmpty();
    }

    /** nacos-client's redo cache of a registry: what it registers again after a reconnect, by grouped service. */
    @SuppressWarnings("unchecked")
    private static Map<String, ?> redoCache(Registry registry) throws ReflectiveOperationException {
        Object client = read(registry, "naming");
        Object grpc = read(read(client, "clientProxy"), "grpcClientProxy");
        Object redo = read(grpc, "redoService");
        return (Map<String, ?>) redo.getClass().getMethod("getRegisteredInstances").invoke(redo);
    }

    private static Object read(Object target, String field) throws ReflectiveOperationException {
        java.lang.reflect.Field f = target.getClass().getDeclaredField(field);
        f.setAccessible(true);
        return f.get(target);
    }

    private List<String> grpcIps(String service) {
        List<String> ports = new ArrayList<>();
        server.instances("public", "DEFAULT_GROUP", service + ".grpc").forEach(i -> ports.add(i.getIp() + ":"
                + i.getPort()));
        return ports;
    }

    // ------------------------------------------------------------------------ watchers across a server restart

    @Test
    void aRestartedServerDoesNotEmptyWatchedListsWhileItsClientsComeBack() throws Exception {
        try (BlackHoleProxy link = BlackHoleProxy.to(server)) {
            // The registrar reaches the server through a link that fails with the restart and heals later, so it
            // registers again well after the observer has subscribed again.
            Registry registrar = open(link.address(), "timeout=2s");
            Registry observer = open(server.address(), "timeout=2s&reconnectGrace=60s");
            String service = TestInstances.serviceName("restart-hold");
            ServiceInstance a = TestInstances.of(service, "a");
            registrar.register(a);
            try (Watcher watcher = observer.watch(service)) {
                Watching.awaitIds(watcher, BOUND, Set.of("a"));
                long subscriptions = count("SubscribeServiceRequest");
                List<List<ServiceInstance>> seen = new ArrayList<>();

                link.blackHole();
                server.restart();
                // The observer subscribes again, and the server answers with what it holds: nothing yet.
                collectUntil(watcher, seen, () -> count("SubscribeServiceRequest") >= subscriptions + 4);
                assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).isEmpty();
                link.restore();

                // a comes back through redo; then b, so that the watcher's later lists are known to have arrived.
                collectUntil(watcher, seen, () -> !server.instances("public", "DEFAULT_GROUP", service + ".http")
                        .isEmpty());
                ServiceInstance b = TestInstances.of(service, "b");
                registrar.register(b);
                collectUntil(watcher, seen, () -> !seen.isEmpty() && seen.get(seen.size() - 1).equals(List.of(a, b)));
                assertThat(seen).as("no list without a").allSatisfy(list -> assertThat(list).contains(a));
            }
        }
    }

    @Test
    void aRemovalHeldAfterAReconnectionReachesWatchersWhenTheGracePeriodEnds() throws Exception {
        try (BlackHoleProxy link = BlackHoleProxy.to(server)) {
            Registry registrar = open(link.address(), "timeout=2s");
            Registry observer = open(server.address(), "timeout=2s&reconnectGrace=6s");
            String service = TestInstances.serviceName("restart-gone");
            registrar.register(TestInstances.of(service, "a"));
            try (Watcher watcher = observer.watch(service)) {
                Watching.awaitIds(watcher, BOUND, Set.of("a"));

                link.blackHole(); // a's process is cut off for good
                server.restart();
                long restarted = System.nanoTime();
                Watching.awaitIds(watcher, BOUND, Set.of());
                assertThat(Duration.ofNanos(System.nanoTime() - restarted)).as("held for the grace period")
                        .isGreaterThanOrEqualTo(Duration.ofSeconds(6));

                // Connected again: removals reach the watcher as they happen (scale to zero included).
                ServiceInstance b = TestInstances.of(service, "b");
                Registry another = open();
                another.register(b);
                Watching.awaitIds(watcher, BOUND, Set.of("b"));
                another.deregister(b);
                Watching.awaitIds(watcher, BOUND, Set.of());
            }
        }
    }

    /** Polls the watcher, keeping every list it returns, until the condition holds. */
    private static void collectUntil(Watcher watcher, List<List<ServiceInstance>> seen,
                                     java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + BOUND.multipliedBy(2).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached within " + BOUND.multipliedBy(2) + "; lists: " + seen);
            }
            watcher.next(Duration.ofMillis(100)).ifPresent(seen::add);
        }
    }
}
