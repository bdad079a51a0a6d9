package io.roster.consul;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Connections to the agent: a registry opens at most {@code maxConnections}, shared by heartbeats, writes and
 * watches, closes them all on {@code close()}, and takes Consul's 429 (over {@code limits.http_max_conns_per_client})
 * as "try again later". Counted at the stand-in's server socket.
 */
class ConsulConnectionsTest {
    private static final Duration BOUND = Duration.ofSeconds(15);

    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder().maxConnsPerClient(50).build();

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    private ConsulRegistry.Builder registry() {
        return ConsulRegistry.builder().address(consul.address()).ttl(Duration.ofSeconds(10))
                .heartbeat(Duration.ofSeconds(2));
    }

    @Test
    void fiveHundredInstancesAndAHundredWatchesStayWithinAFiftyConnectionLimitAndCloseDeregistersAll()
            throws Exception {
        await().atMost(BOUND).until(() -> consul.openConnections() == 0);
        consul.resetConnectionCounts();
        ConsulRegistry registry = opened.track(registry().build());
        List<String> services = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            services.add(TestInstances.serviceName("hundred-" + i));
        }
        List<ServiceInstance> instances = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            ServiceInstance instance = TestInstances.of(services.get(i % 50), "five-hundred-" + i);
            instances.add(instance);
            registry.register(instance);
        }
        List<Watcher> watchers = new ArrayList<>();
        for (String service : services) {
            watchers.add(registry.watch(service));
        }
        try {
            for (int i = 0; i < 100; i++) {
                List<ServiceInstance> first = watchers.get(i).next(BOUND).orElseThrow();
                assertThat(first).as(services.get(i)).hasSize(i < 50 ? 10 : 0);
            }
            // Changes still arrive: a dedicated service and a shared one.
            registry.register(TestInstances.of(services.get(99), "late"));
            Watching.awaitIds(watchers.get(99), BOUND, Set.of("late"));
            registry.deregister(instances.get(0));
            Watching.awaitList(watchers.get(0), BOUND, "nine left", l -> l.size() == 9);
            // Registering took several heartbeat periods: heartbeats, writes and watches ran side by side.
            assertThat(registry.openConnections()).isLessThanOrEqualTo(16);
            assertThat(consul.peakConnections()).as("connections open at once").isLessThanOrEqualTo(16);
        } finally {
            watchers.forEach(Watcher::close);
        }

        registry.close(); // aborts the blocking queries and sends 500 deregistrations at once

        assertThat(consul.refusedConnections()).as("connections refused with 429").isZero();
        assertThat(consul.serviceIds()).as("every instance deregistered").isEmpty();
        assertThat(registry.openConnections()).isZero();
        await().atMost(BOUND).untilAsserted(() -> assertThat(consul.openConnections()).isZero());
    }

    @Test
    void twentyRegistriesOpenedAndClosedInTurnLeaveNoConnectionOpen() throws Exception {
        await().atMost(BOUND).until(() -> consul.openConnections() == 0);
        consul.resetConnectionCounts();
        String service = TestInstances.serviceName("turns");
        for (int i = 0; i < 20; i++) {
            try (Registry registry = registry().build()) {
                registry.register(TestInstances.of(service, "turn-" + i + "-a"));
                registry.register(TestInstances.of(service, "turn-" + i + "-b"));
                try (Watcher watcher = registry.watch(service)) {
                    Watching.awaitIds(watcher, BOUND, Set.of("turn-" + i + "-a", "turn-" + i + "-b"));
                }
                assertThat(registry.getService(service)).hasSize(2);
            }
        }

        await().atMost(BOUND).untilAsserted(() -> assertThat(consul.openConnections())
                .as("connections still open at the agent").isZero());
        assertThat(consul.refusedConnections()).isZero();
        assertThat(consul.serviceIds()).noneMatch(id -> id.startsWith("turn-"));
    }

    @Test
    void aConnectionRefusedWith429IsTriedAgainAfterABackoff() throws Exception {
        try (ConsulStandIn small = ConsulStandIn.builder().maxConnsPerClient(2).start()) {
            // Two other clients on this host hold both connections the agent allows it.
            Socket one = new Socket(InetAddress.getLoopbackAddress(), port(small));
            Socket two = new Socket(InetAddress.getLoopbackAddress(), port(small));
            await().atMost(BOUND).until(() -> small.openConnections() == 2);
            Thread release = new Thread(() -> {
                await().atMost(BOUND).until(() -> small.refusedConnections() > 0);
                try {
                    one.close(); // a moment after the first refusal, one goes away
                    two.close();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, "test-release");
            release.start();
            ConsulRegistry registry = opened.track(ConsulFixture.registry(small.address()).build());

            registry.register(TestInstances.of(TestInstances.serviceName("crowded"), "patient"));

            release.join();
            assertThat(small.refusedConnections()).as("refused at first").isPositive();
            assertThat(small.hasService("patient")).isTrue();
        }
    }

    private static int port(ConsulStandIn standIn) {
        return Integer.parseInt(standIn.address().substring(standIn.address().lastIndexOf(':') + 1));
    }

    @Test
    void heartbeatsOfManyInstancesAreSpreadOverThePeriod() throws Exception {
        Duration heartbeat = Duration.ofSeconds(1);
        ConsulRegistry registry = opened.track(registry().ttl(Duration.ofSeconds(3)).heartbeat(heartbeat).build());
        String service = TestInstances.serviceName("spread");
        for (int i = 0; i < 100; i++) {
            registry.register(TestInstances.of(service, "spread-" + i));
        }
        long from = System.nanoTime() + heartbeat.toNanos(); // a whole period after the last registration
        await().atMost(BOUND).until(() -> consul.writeTimes("/v1/agent/check/update/").stream()
                .anyMatch(at -> at >= from + heartbeat.toNanos())); // the window is over

        List<Long> passes = new ArrayList<>();
        for (long at : consul.writeTimes("/v1/agent/check/update/")) {
            if (at >= from && at < from + heartbeat.toNanos()) {
                passes.add(at);
            }
        }
        int[] buckets = new int[10];
        passes.forEach(at -> buckets[(int) ((at - from) * 10 / heartbeat.toNanos())]++);
        assertThat(passes).as("one pass per instance per period").hasSizeBetween(90, 110);
        for (int count : buckets) {
            assertThat(count).as("passes in a tenth of the period, of %s", passes.size()).isLessThan(40);
        }
    }
}
