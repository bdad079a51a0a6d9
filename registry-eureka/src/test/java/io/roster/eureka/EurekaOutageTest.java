package io.roster.eureka;

import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The server behind a black-holed link (connections accepted, requests never answered): what costs a timeout
 * must cost it once, not once per instance and endpoint, and watchers keep their lists.
 */
@ExtendWith(SharedEurekaServer.class)
class EurekaOutageTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(2);
    private static final Duration BOUND = Duration.ofSeconds(10);

    private final List<Registry> opened = new ArrayList<>();
    private BlackHoleProxy proxy;
    private RawEureka raw;

    @BeforeEach
    void setUp() throws IOException {
        proxy = new BlackHoleProxy(SharedEurekaServer.server().port());
        raw = new RawEureka(SharedEurekaServer.server().url());
    }

    @AfterEach
    void tearDown() throws IOException {
        opened.forEach(Registry::close);
        proxy.close();
        raw.close();
    }

    private EurekaRegistry open() {
        return open(b -> { });
    }

    private EurekaRegistry open(Consumer<EurekaRegistry.Builder> settings) {
        EurekaRegistry.Builder builder = EurekaRegistry.builder()
                .serverUrl(URI.create("http://127.0.0.1:" + proxy.port() + "/eureka"))
                .timeout(TIMEOUT)
                .renewalInterval(Duration.ofSeconds(1)).leaseDuration(Duration.ofSeconds(3))
                .refreshInterval(Duration.ofMillis(200));
        settings.accept(builder);
        EurekaRegistry registry = builder.build();
        opened.add(registry);
        return registry;
    }

    /** Sequentially, 10 instances of 2 endpoints took 20 timeouts (40 s here) to close. */
    @Test
    void closeDuringAnOutageTakesOneTimeoutNotOnePerInstance() throws InterruptedException {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        EurekaRegistry registry = open();
        String service = TestInstances.serviceName("outage-close");
        for (int i = 0; i < 10; i++) {
            registry.register(TestInstances.of(service, "i-" + i));
        }
        assertThat(raw.instances(EurekaInstances.app(service))).hasSize(20);

        proxy.blackHole();
        long start = System.nanoTime();
        registry.close();
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        // One deregistration round (the 2 s timeout) plus stopping the threads; slack for a loaded machine.
        assertThat(took).isLessThan(Duration.ofSeconds(8));
        before.assertNoNewThreads(BOUND, t -> EurekaTestServer.isServerThread(t)
                || t.getName().startsWith("test-"));
    }

    /**
     * Sequentially, the first endpoint's timeout ended the deregistration: the other endpoints' Eureka instances
     * were not even tried. Now all are sent at once, and the call still takes one timeout.
     */
    @Test
    void deregisterDuringAnOutageTriesEveryEndpointWithinOneTimeout() {
        EurekaRegistry registry = open();
        ServiceInstance instance = sixEndpoints(TestInstances.serviceName("outage-deregister"), 21000);
        registry.register(instance);

        proxy.blackHole();
        long start = System.nanoTime();
        assertThatThrownBy(() -> registry.deregister(instance)).isInstanceOf(RegistryUnavailableException.class);
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(took).isLessThan(Duration.ofSeconds(6)); // one at a time, all six would take 12 s
        assertThat(deletes()).isEqualTo(6);
    }

    /**
     * Six DELETEs at once with {@code maxConnections=2}: two go out, on the two connections the link swallows, and
     * no third connection is opened while they hang; the other four wait for a connection (and time out).
     */
    @Test
    void noMoreThanMaxConnectionsAreOpenToAServer() {
        // A long timeout, so that the two DELETEs hang well past the check; renewals far apart, so that none holds
        // a connection when the link goes dark.
        EurekaRegistry registry = open(b -> b.maxConnections(2).timeout(Duration.ofSeconds(4))
                .renewalInterval(Duration.ofSeconds(10)).leaseDuration(Duration.ofSeconds(30)));
        ServiceInstance instance = sixEndpoints(TestInstances.serviceName("outage-bound"), 21100);
        registry.register(instance);
        assertThat(proxy.requests()).filteredOn(r -> r.startsWith("POST ")).hasSize(6);
        assertThat(proxy.accepted()).as("connections for six POSTs at once").isBetween(1, 2);

        proxy.blackHole();
        CompletableFuture<Void> deregistering = CompletableFuture.runAsync(() -> registry.deregister(instance));

        await().atMost(BOUND).until(() -> deletes() == 2);
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
                .until(() -> deletes() == 2 && proxy.accepted() <= 2);
        assertThatThrownBy(deregistering::join).hasCauseInstanceOf(RegistryUnavailableException.class);
    }

    private long deletes() {
        return proxy.requests().stream().filter(r -> r.startsWith("DELETE ")).count();
    }

    private static ServiceInstance sixEndpoints(String service, int firstPort) {
        ServiceInstance.Builder b = TestInstances.instance(service, "many").endpoints(List.of());
        for (int i = 0; i < 6; i++) {
            b.endpoint("http://127.0.0.1:" + (firstPort + i));
        }
        return b.build();
    }

    @Test
    void watchersKeepTheirListWhileTheLinkIsBlackHoledAndFollowAfterwards() throws InterruptedException {
        EurekaRegistry registry = open();
        String service = TestInstances.serviceName("outage-watch");
        ServiceInstance a = TestInstances.of(service, "a");
        registry.register(a);
        try (Watcher watcher = registry.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a"));

            proxy.blackHole();
            assertThat(watcher.next(Duration.ofSeconds(3))).as("a push during the outage").isEmpty();
            assertThat(registry.getService(service)).as("the watched list while down").containsExactly(a);

            proxy.restore();
            EurekaInstances.Record b = EurekaInstances.records(TestInstances.of(service, "b"), 30, 90).get(0);
            raw.register(b.app(), b.json());
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));
            raw.delete(b.app(), b.instanceId());
        }
    }
}
