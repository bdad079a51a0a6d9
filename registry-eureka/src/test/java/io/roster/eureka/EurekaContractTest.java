package io.roster.eureka;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;

/**
 * The contract suite against a real Eureka server in this JVM, opened through {@link Registries} and the
 * {@code eureka://} URI. Short intervals keep it fast: renewal 1 s, lease 3 s, watch refresh 500 ms.
 */
@ExtendWith(SharedEurekaServer.class)
class EurekaContractTest extends RegistryContract {
    static final Duration LEASE = Duration.ofSeconds(3);
    static final Duration REFRESH = Duration.ofMillis(500);

    @Override
    protected RegistryFixture fixture() {
        EurekaTestServer server = SharedEurekaServer.server();
        return new RegistryFixture() {
            @Override
            public Registry open() {
                return Registries.open("eureka://127.0.0.1:" + server.port() + "/eureka?renew=1s&lease="
                        + LEASE.toSeconds() + "s&refresh=" + REFRESH.toMillis() + "ms");
            }

            @Override
            public void kill(Registry registry) {
                ((EurekaRegistry) registry).kill();
            }

            @Override
            public Duration deathBound() {
                // Eureka keeps a lease twice its duration after a renewal (its Lease class says so), then the
                // eviction timer runs, then a watcher's refresh; plus slack for a loaded machine.
                return LEASE.multipliedBy(2).plus(EurekaTestServer.EVICTION_INTERVAL).plus(REFRESH)
                        .plusSeconds(5);
            }

            @Override
            public Duration quietPeriod() {
                return REFRESH.multipliedBy(3);
            }

            @Override
            public boolean isServerThread(Thread thread) {
                return EurekaTestServer.isServerThread(thread);
            }

            @Override
            public List<ServiceInstance> backendInvalidInstances(String service) {
                return List.of(
                        TestInstances.instance(service, "reserved-id").metadata("ID", "x").build(),
                        TestInstances.instance(service, "reserved-endpoints").metadata("Endpoints", "x").build(),
                        TestInstances.instance(service, "reserved-agent").metadata("agent", "x").build(),
                        TestInstances.instance(service, "reserved-class").metadata("@class", "x").build(),
                        ServiceInstance.builder().name(service).id("no-endpoints").build(),
                        TestInstances.instance(service + ";x", "semicolon").build(),
                        TestInstances.instance(service + "%41", "percent").build());
            }
        };
    }
}
