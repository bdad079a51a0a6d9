package io.roster.polaris;

import io.roster.Registries;
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
        // Unhealthy after 3 TTLs (3 s), then the SDK's cache refresh (2 s); generous for a loaded CI.
        return new PolarisFixture(() -> "polaris://" + polaris.address() + "?namespace=contract&ttl=1s&timeout=3s",
                Duration.ofSeconds(15), PolarisTestServer::isServerThread);
    }
}
