package io.roster.consul;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Recovery against a real Consul ({@code hashicorp/consul}, dev mode); skipped without Docker. */
@Testcontainers(disabledWithoutDocker = true)
class ConsulContainerRecoveryTest {
    private static final Duration BOUND = Duration.ofSeconds(15);

    @Container
    static final ConsulContainer CONSUL = new ConsulContainer();

    @Test
    void aLostRegistrationIsBackWithinTwoHeartbeatsAndWatchersSeeIt() throws Exception {
        String service = TestInstances.serviceName("lost");
        ServiceInstance instance = TestInstances.of(service, "lost-1");
        try (Registry registrar = ConsulFixture.registry(CONSUL.address()).build();
             Registry observer = ConsulFixture.registry(CONSUL.address()).build();
             Watcher watcher = observer.watch(service)) {
            registrar.register(instance);
            Watching.awaitIds(watcher, BOUND, Set.of("lost-1"));

            CONSUL.forget(instance.id());

            await().atMost(ConsulFixture.HEARTBEAT.multipliedBy(2).plusSeconds(1))
                    .until(() -> observer.getService(service).equals(List.of(instance)));
            assertThat(registrar.getService(service)).containsExactly(instance);
        }
    }

    @Test
    void aRegistryThatStopsHeartbeatingIsGoneOnceItsTtlHasPassed() throws Exception {
        String service = TestInstances.serviceName("silent");
        try (Registry observer = ConsulFixture.registry(CONSUL.address()).build();
             Watcher watcher = observer.watch(service)) {
            ConsulRegistry victim = ConsulFixture.registry(CONSUL.address()).build();
            victim.register(TestInstances.of(service, "silent-1"));
            Watching.awaitIds(watcher, BOUND, Set.of("silent-1"));

            victim.kill();

            Watching.awaitIds(watcher, ConsulFixture.TTL.plus(BOUND), Set.of());
            assertThat(observer.getService(service)).isEmpty();
        }
    }
}
