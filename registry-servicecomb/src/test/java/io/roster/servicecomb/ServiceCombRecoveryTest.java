package io.roster.servicecomb;

import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * What Kratos's ServiceComb registry does not survive: an instance that expired, a server that restarted without
 * its data, an operator's deletion, an outage; and what must stop: heartbeats after deregister, every thread and
 * websocket after close. Each test has its own stand-in, so that restarts and outages touch nobody else.
 */
class ServiceCombRecoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(15);

    private final ServiceCenterStandIn sc = ServiceCenterStandIn.builder().minimums(1, 1).build().start();
    private final List<Registry> opened = new ArrayList<>();

    @AfterEach
    void closeAll() {
        opened.forEach(Registry::close);
        sc.close();
    }

    private ServiceCombRegistry open(ServiceCombRegistry.Builder builder) {
        ServiceCombRegistry registry = builder.build();
        opened.add(registry);
        return registry;
    }

    private ServiceCombRegistry open() {
        return open(ServiceCombFixture.registry(sc.address()));
    }

    @Test
    void afterARestartWithoutDataTheInstanceComesBackAndAnotherRegistrysWatcherShowsIt() throws Exception {
        String service = TestInstances.serviceName("restart");
        ServiceInstance instance = TestInstances.of(service, "r-1");
        open().register(instance);
        Registry observer = open();
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("r-1"));

            sc.restart();

            // The server forgot everything; the heartbeat learns it (400017) and registers microservice and
            // instance again; the observer's websocket reconnects, its consumer is created again, the list is read.
            Watching.awaitList(watcher, BOUND, "the instance back", list -> list.equals(List.of(instance)));
        }
        assertThat(sc.instance("r-1")).isNotNull();
        assertThat(observer.getService(service)).containsExactly(instance);
    }

    @Test
    void anInstanceThatExpiredDuringAnOutageComesBackAndWatchersKeepTheirListMeanwhile() throws Exception {
        String service = TestInstances.serviceName("outage");
        ServiceInstance instance = TestInstances.of(service, "o-1");
        open().register(instance);
        Registry observer = open();
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("o-1"));

            sc.stop();
            // The lease runs on while the server is unreachable (TTL 3 s): wait until it expired.
            await().atMost(BOUND).until(() -> sc.instance("o-1") == null);
            assertThat(watcher.next(Duration.ofSeconds(1))).as("an outage must not empty the list").isEmpty();
            assertThat(observer.getService(service)).as("the watched list while unavailable")
                    .containsExactly(instance);

            sc.start();

            await().atMost(BOUND).until(() -> sc.instance("o-1") != null);
            await().atMost(BOUND).untilAsserted(() -> assertThat(observer.getService(service))
                    .containsExactly(instance));
            // The watcher never saw the instance go (it came back before a read could show it gone), and the watch
            // is live again: the next change reaches it.
            open().register(TestInstances.of(service, "o-2"));
            Watching.awaitIds(watcher, BOUND, Set.of("o-1", "o-2"));
        }
    }

    @Test
    void anInstanceDeletedBehindItsBackIsRegisteredAgain() throws Exception {
        String service = TestInstances.serviceName("deleted");
        ServiceInstance instance = TestInstances.of(service, "d-1");
        open().register(instance);
        try (Watcher watcher = open().watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("d-1"));

            sc.delete("d-1");

            Watching.awaitIds(watcher, BOUND, Set.of());
            Watching.awaitList(watcher, BOUND, "the instance back", list -> list.equals(List.of(instance)));
        }
    }

    @Test
    void noHeartbeatAfterDeregister() {
        ServiceCombRegistry registry = open();
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("hb"), "hb-1");
        registry.register(instance);
        await().atMost(BOUND).until(() -> sc.heartbeats("hb-1") >= 2);

        registry.deregister(instance);

        long beats = sc.heartbeats("hb-1");
        await().during(Duration.ofMillis(2500)).atMost(Duration.ofSeconds(5))
                .until(() -> sc.heartbeats("hb-1") == beats);
        assertThat(sc.instance("hb-1")).isNull();
    }

    @Test
    void aDeregistrationDuringAnOutageIsFinishedWhenTheServerIsBack() {
        // A long TTL, so that only the finished deregistration can remove the instance within the bound.
        ServiceCombRegistry registry = open(ServiceCombFixture.registry(sc.address()).times(60));
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("late"), "late-1");
        registry.register(instance);
        sc.stop();

        assertThatThrownBy(() -> registry.deregister(instance)).isInstanceOf(RegistryUnavailableException.class);

        sc.start();
        await().atMost(BOUND).until(() -> sc.instance("late-1") == null);
        assertThat(registry.getService(instance.name())).isEmpty();
    }

    @Test
    void noThreadOrWebsocketOutlivesClose() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).build();
        String service = TestInstances.serviceName("leak");
        registry.register(TestInstances.of(service, "l-1"));
        Watcher watcher = registry.watch(service);
        Watching.awaitIds(watcher, BOUND, Set.of("l-1"));
        await().atMost(BOUND).until(() -> registry.watchConnected() && sc.watched());

        long started = System.nanoTime();
        registry.close();

        assertThat(Duration.ofNanos(System.nanoTime() - started)).as("close() duration")
                .isLessThan(Duration.ofSeconds(10));
        await().atMost(BOUND).until(() -> !sc.watched()); // the server saw the websocket end
        before.assertNoNewThreads(BOUND, ServiceCenterStandIn::isServerThread);
        assertThat(sc.instance("l-1")).isNull();
    }
}
