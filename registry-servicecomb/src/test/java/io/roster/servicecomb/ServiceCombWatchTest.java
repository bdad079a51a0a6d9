package io.roster.servicecomb;

import io.roster.Registry;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The watch: changes arrive through the websocket, and re-reads of an unchanged service cost a 304. */
class ServiceCombWatchTest {
    @RegisterExtension
    static final ServiceCenterStandIn SC = ServiceCenterStandIn.builder().minimums(1, 1).build();
    private static final Duration BOUND = Duration.ofSeconds(10);

    @Test
    void changesArriveThroughTheWebsocketNotThePeriodicRead() throws Exception {
        String service = TestInstances.serviceName("ws");
        try (Registry registrar = ServiceCombFixture.registry(SC.address()).build();
             ServiceCombRegistry observer = ServiceCombFixture.registry(SC.address())
                     .refresh(Duration.ofHours(1)).build();
             Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of());
            await().atMost(BOUND).until(observer::watchConnected);

            // The service's first microservice is found by looking for it (no event can announce it), ...
            registrar.register(TestInstances.of(service, "w-1"));
            Watching.awaitIds(watcher, BOUND, Set.of("w-1"));
            // ... every later change arrives as an event: the periodic read is an hour away.
            registrar.register(TestInstances.of(service, "w-2"));
            Watching.awaitIds(watcher, BOUND, Set.of("w-1", "w-2"));
            registrar.deregister(TestInstances.of(service, "w-1"));
            Watching.awaitIds(watcher, BOUND, Set.of("w-2"));
        }
    }

    @Test
    void anUnchangedServiceIsReadAgainAsNotModified() throws Exception {
        String service = TestInstances.serviceName("rev");
        try (Registry registrar = ServiceCombFixture.registry(SC.address()).build();
             Registry observer = ServiceCombFixture.registry(SC.address()).refresh(Duration.ofMillis(200)).build()) {
            registrar.register(TestInstances.of(service, "r-1"));
            try (Watcher watcher = observer.watch(service)) {
                Watching.awaitIds(watcher, BOUND, Set.of("r-1"));
                long before = SC.notModified();

                await().atMost(BOUND).until(() -> SC.notModified() >= before + 3);

                assertThat(watcher.next(Duration.ofMillis(500))).as("a 304 wakes nobody").isEmpty();
            }
        }
    }
}
