package io.roster.polaris;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.ThreadLeaks;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.DockerImageName;

import java.time.Duration;

/**
 * The contract suite against a real Polaris server ({@code polarismesh/polaris-standalone}, as Polaris's quick start
 * runs it); skipped without Docker. It has never run on the project's own machine, which has no Docker.
 *
 * <p>Namespace {@code default}, which every Polaris server has. The SDK sends heartbeats to the health-check
 * cluster the server publishes ({@code polaris.checker}, at the container's own address), so this runs where that
 * address is reachable from the test JVM: Docker on Linux, not Docker Desktop's VM.
 */
@Testcontainers(disabledWithoutDocker = true)
class PolarisContainerContractTest extends RegistryContract {
    private static final int HTTP = 8090;
    private static final int GRPC = 8091;

    @Container
    static final GenericContainer<?> POLARIS = new GenericContainer<>(
            DockerImageName.parse("polarismesh/polaris-standalone:v1.17.2"))
            .withExposedPorts(HTTP, GRPC)
            .waitingFor(Wait.forHttp("/").forPort(HTTP).forResponsePredicate(body -> body.contains("Polaris Server")))
            .withStartupTimeout(Duration.ofMinutes(3));

    @Override
    protected RegistryFixture fixture() {
        // Unhealthy after missed heartbeats (a few TTLs), then the SDK's 2 s cache refresh.
        return new PolarisFixture(() -> "polaris://" + POLARIS.getHost() + ":" + POLARIS.getMappedPort(GRPC)
                + "?namespace=default&ttl=2s&timeout=5s", Duration.ofSeconds(30), ThreadLeaks::isContainerHarness);
    }
}
