package io.roster.polaris;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;

/**
 * The contract suite against the Polaris SDK's test server with Polaris's heartbeat health ({@link PolarisTestServer}),
 * opened through {@link Registries} as users do.
 */
class PolarisContractTest extends RegistryContract {
    private static PolarisTestServer polaris;

    @BeforeAll
    static void startPolaris() {
        polaris = PolarisTestServer.start();
    }

    @AfterAll
    static void stopPolaris() {
        polaris.close();
    }

    @Override
    protected RegistryFixture fixture() {
        return new RegistryFixture() {
            @Override
            public Registry open() {
                return Registries.open("polaris://" + polaris.address() + "?namespace=contract&ttl=1s&timeout=3s");
            }

            @Override
            public void kill(Registry registry) {
                ((PolarisRegistry) registry).kill();
            }

            @Override
            public Duration deathBound() {
                // Unhealthy after 3 TTLs (3 s), then the SDK's cache refresh (2 s); generous for a loaded CI.
                return Duration.ofSeconds(15);
            }

            @Override
            public boolean isServerThread(Thread thread) {
                return PolarisTestServer.isServerThread(thread);
            }
        };
    }
}
