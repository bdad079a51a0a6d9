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
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.junit.jupiter.Testcontainers;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The restart and freeze scenarios of {@link NacosRecoveryTest} against a real Nacos 3.x in a container, restarted
 * on the same host ports (a new container: no ephemeral instance survives) or paused (as SIGSTOP would). Skipped
 * where Docker is absent.
 */
@Testcontainers(disabledWithoutDocker = true)
class NacosContainerRecoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(60);

    private final int hostPort = NacosStandIn.freeMainPort();
    private final GenericContainer<?> nacos = NacosContainerContractTest.server("nacos/nacos-server:v3.1.1",
            hostPort);
    private final List<Registry> registries = new ArrayList<>();

    @BeforeEach
    void start() {
        nacos.start();
    }

    @AfterEach
    void stop() {
        registries.forEach(Registry::close);
        nacos.stop();
    }

    private Registry open(String query) {
        Registry registry = Registries.open("nacos://" + nacos.getHost() + ":" + hostPort + "?" + query);
        registries.add(registry);
        return registry;
    }

    @Test
    void aDeregistrationWhileTheServerIsDownIsFinishedWhenItIsBack() {
        Registry registrar = open("timeout=3s&verify=2s");
        Registry observer = open("timeout=5s");
        String alone = TestInstances.serviceName("outage");
        String other = TestInstances.serviceName("outage-other");
        ServiceInstance a = TestInstances.of(alone, "a");
        ServiceInstance c = TestInstances.of(other, "c");
        registrar.register(a);
        registrar.register(c);

        nacos.stop();
        assertThatThrownBy(() -> registrar.deregister(a)).isInstanceOf(RegistryUnavailableException.class);
        nacos.start();

        // Redo registers c again, and with the same pass forgets a.
        await().atMost(BOUND).ignoreExceptions()
                .untilAsserted(() -> assertThat(observer.getService(other)).containsExactly(c));
        await().during(Duration.ofSeconds(15)).atMost(BOUND)
                .untilAsserted(() -> assertThat(observer.getService(alone)).isEmpty());
        registrar.deregister(a); // nothing left to do
        assertThat(observer.getService(other)).containsExactly(c);
    }

    @Test
    void aServerFrozenLongerThanTheConnectionTimeoutDoesNotEmptyWatchedLists() throws InterruptedException {
        Registry registrar = open("timeout=3s");
        Registry observer = open("timeout=3s&reconnectGrace=20s");
        String service = TestInstances.serviceName("frozen");
        ServiceInstance a = TestInstances.of(service, "a");
        registrar.register(a);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a"));
            List<List<ServiceInstance>> seen = new ArrayList<>();

            nacos.getDockerClient().pauseContainerCmd(nacos.getContainerId()).exec();
            try {
                // Longer than nacos-client's health check (5 s keep-alive, 3 s timeout): both clients reconnect.
                poll(watcher, seen, System.nanoTime() + Duration.ofSeconds(15).toNanos());
            } finally {
                nacos.getDockerClient().unpauseContainerCmd(nacos.getContainerId()).exec();
            }

            ServiceInstance b = TestInstances.of(service, "b");
            await().atMost(BOUND).ignoreExceptions().until(() -> {
                registrar.register(b);
                return true;
            });
            long deadline = System.nanoTime() + BOUND.toNanos();
            while (seen.isEmpty() || !seen.get(seen.size() - 1).equals(List.of(a, b))) {
                assertThat(deadline - System.nanoTime()).as("a and b within %s; lists: %s", BOUND, seen).isPositive();
                poll(watcher, seen, System.nanoTime() + Duration.ofMillis(500).toNanos());
            }
            assertThat(seen).as("no list without a").allSatisfy(list -> assertThat(list).contains(a));
        }
    }

    /** Keeps every list the watcher returns until the deadline (System.nanoTime). */
    private static void poll(Watcher watcher, List<List<ServiceInstance>> seen, long deadline)
            throws InterruptedException {
        while (System.nanoTime() < deadline) {
            watcher.next(Duration.ofMillis(100)).ifPresent(seen::add);
        }
    }
}
