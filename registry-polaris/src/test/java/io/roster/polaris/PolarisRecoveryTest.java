package io.roster.polaris;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An instance that Polaris lost comes back by itself, and a watcher on another registry shows it again: after a
 * heartbeat expiry that Polaris's clean-up turned into a deletion, and after a server restart on the same port that
 * forgot every instance. TTL 1 s: unhealthy after 3 s without heartbeats; "not found" from the fourth heartbeat on.
 */
class PolarisRecoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(20);
    private static final Duration RESTART = Duration.ofSeconds(40);
    private PolarisTestServer polaris;

    @BeforeEach
    void start() {
        polaris = PolarisTestServer.start();
    }

    @AfterEach
    void stop() {
        polaris.close();
    }

    private Registry open() {
        return Registries.open("polaris://" + polaris.address() + "?namespace=recovery&ttl=1s&timeout=2s");
    }

    @Test
    void anInstanceDeletedAfterItsHeartbeatsExpiredIsRegisteredAgain() throws InterruptedException {
        String service = TestInstances.serviceName("expiry");
        ServiceInstance instance = TestInstances.of(service, "e");
        try (Registry registrar = open(); Registry observer = open(); Watcher watcher = observer.watch(service)) {
            registrar.register(instance);
            Watching.awaitList(watcher, BOUND, "the instance", l -> l.equals(List.of(instance)));

            // Heartbeats are lost on the way: three TTLs later the instance is unhealthy, and Polaris deletes it.
            polaris.deleteUnhealthyAfter(Duration.ofMillis(200));
            polaris.dropHeartbeats(true);
            Watching.awaitList(watcher, BOUND, "the instance gone", List::isEmpty);
            await().atMost(BOUND).until(() -> polaris.instances("recovery", service).isEmpty());

            polaris.dropHeartbeats(false);

            Watching.awaitList(watcher, BOUND, "the instance back", l -> l.equals(List.of(instance)));
            assertThat(polaris.instances("recovery", service)).hasSize(2);
            assertThat(observer.getService(service)).containsExactly(instance);
        }
    }

    @Test
    void afterARestartOnTheSamePortTheInstanceComesBack() throws InterruptedException {
        String service = TestInstances.serviceName("restart");
        ServiceInstance instance = TestInstances.instance(service, "r").metadata("weight", "70").build();
        try (Registry registrar = open(); Registry observer = open(); Watcher watcher = observer.watch(service)) {
            registrar.register(instance);
            Watching.awaitList(watcher, BOUND, "the instance", l -> l.equals(List.of(instance)));

            polaris.restart();
            assertThat(polaris.instances("recovery", service)).isEmpty();

            // The SDK reconnects, the server answers "not found" from the fourth heartbeat on, the registry registers
            // again: about 20 s on this test server.
            await().atMost(RESTART).until(() -> polaris.instances("recovery", service).size() == 2);
            // The observer's cache may never have lost the instance; a newcomer proves it follows the new server.
            ServiceInstance newcomer = TestInstances.of(service, "newcomer");
            try (Registry third = open()) {
                third.register(newcomer);
                Watching.awaitList(watcher, BOUND, "the instance and the newcomer",
                        l -> l.equals(List.of(newcomer, instance)));
                assertThat(observer.getService(service)).containsExactly(newcomer, instance);
            }
        }
    }

    @Test
    void noHeartbeatAfterDeregisterAndNothingComesBack() throws InterruptedException {
        String service = TestInstances.serviceName("gone");
        ServiceInstance instance = TestInstances.of(service, "g");
        try (Registry registrar = open(); Registry observer = open(); Watcher watcher = observer.watch(service)) {
            registrar.register(instance);
            Watching.awaitList(watcher, BOUND, "the instance", l -> l.equals(List.of(instance)));
            long before = polaris.heartbeats();
            await().atMost(BOUND).until(() -> polaris.heartbeats() > before);

            registrar.deregister(instance);
            Watching.awaitList(watcher, BOUND, "the instance gone", List::isEmpty);
            long after = polaris.heartbeats();

            // Four TTLs: a heartbeat still running would have been sent, and "not found" would re-register.
            assertThat(watcher.next(Duration.ofSeconds(4))).isEmpty();
            assertThat(polaris.heartbeats()).isEqualTo(after);
            assertThat(polaris.instances("recovery", service)).isEmpty();
        }
    }
}
