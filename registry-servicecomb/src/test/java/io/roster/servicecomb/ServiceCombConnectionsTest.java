package io.roster.servicecomb;

import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What a closed registry leaves behind at service-center: no connection (REST keep-alive or websocket) and no
 * thread, counted at the stand-in right after each close, without waiting for the garbage collector.
 */
class ServiceCombConnectionsTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private ServiceCenterStandIn sc;

    @BeforeEach
    void start() {
        sc = ServiceCenterStandIn.builder().minimums(1, 1).build().start();
    }

    @AfterEach
    void stop() {
        sc.close();
    }

    @Test
    void registriesOpenedAndClosedInTurnLeaveNoConnectionAndNoThread() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        String service = TestInstances.serviceName("conn");
        for (int i = 0; i < 4; i++) {
            ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).build();
            ServiceInstance instance = TestInstances.of(service, "c-" + i);
            registry.register(instance);
            try (Watcher watcher = registry.watch(service)) {
                Watching.awaitIds(watcher, BOUND, Set.of(instance.id()));
                await().atMost(BOUND).until(registry::watchConnected);
                assertThat(registry.getService(service)).contains(instance);
                assertThat(registry.services()).contains(service);
                assertThat(sc.openConnections()).as("REST and websocket connections while open").isPositive();
            }
            registry.close();

            await().atMost(BOUND).untilAsserted(() -> assertThat(sc.openConnections())
                    .as("connections left open at service-center by closed registry %s", registry).isZero());
        }
        before.assertNoNewThreads(BOUND, ServiceCenterStandIn::isServerThread);
    }

    @Test
    void anAddressThatRefusesConnectionsIsPassedOverForTheNext() throws Exception {
        String dead = "127.0.0.1:" + FreePorts.next(); // nothing listens there
        String service = TestInstances.serviceName("failover");
        ServiceInstance instance = TestInstances.of(service, "f-1");
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(dead).addresses(List.of(dead, sc.address()))
                .build(); Watcher watcher = registry.watch(service)) {
            registry.register(instance);
            Watching.awaitIds(watcher, BOUND, Set.of("f-1"));
            assertThat(registry.getService(service)).containsExactly(instance);
            await().atMost(BOUND).until(registry::watchConnected);
        }
        await().atMost(BOUND).until(() -> sc.instance("f-1") == null && sc.openConnections() == 0);
    }
}
