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
        Registry registry = Registries.open("nacos://" + server.address() + "?timeout=2s");
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
            await().atMost(BOUND).untilAsserted(() -> assertThat(observer.getService(service)).containsExactly(a));
            registrar.register(b);
            Watching.awaitList(watcher, BOUND, "a and b", list -> list.equals(List.of(a, b)));
            assertThat(observer.getService(service)).containsExactly(a, b);
        }
    }

    @Test
    void anOlderSetLeftOnTheServerIsSentAgain() throws InterruptedException {
        Registry registrar = Registries.open("nacos://" + server.address() + "?timeout=2s&verify=500ms");
        registries.add(registrar);
        Registry observer = open();
        String service = TestInstances.serviceName("stale");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registrar.register(a);
        registrar.register(b);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));

            // What redo re-sending its older cache over a newer registration leaves behind: only "a".
            server.rewrite(service + ".grpc", list -> List.of(list.get(0)));
            server.rewrite(service + ".http", list -> List.of(list.get(0)));
            Watching.awaitIds(watcher, BOUND, Set.of("a"));

            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));
            assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).hasSize(2);
        }
    }

    @Test
    void nothingIsSentAgainWhileTheServerAgrees() {
        Registry registrar = Registries.open("nacos://" + server.address() + "?timeout=2s&verify=200ms");
        registries.add(registrar);
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
}
