package io.roster.nacos;

import com.github.dockerjava.api.model.ExposedPort;
import com.github.dockerjava.api.model.PortBinding;
import com.github.dockerjava.api.model.Ports;
import io.roster.Registries;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.BeforeAll;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.DockerImageName;

import java.time.Duration;

/**
 * The contract suite against a real Nacos 3.x ({@code nacos/nacos-server}, standalone, embedded storage, client
 * auth off). Skipped where Docker is absent.
 */
@Testcontainers(disabledWithoutDocker = true)
class NacosContainerContractTest extends RegistryContract {
    private static final int HOST_PORT = NacosStandIn.freeMainPort();

    @Container
    private static final GenericContainer<?> NACOS = server("nacos/nacos-server:v3.1.1", HOST_PORT);

    /**
     * A standalone Nacos container. nacos-client finds gRPC at the main port + 1000, so the two ports are bound to
     * a free host pair (p, p + 1000) rather than to random ports.
     */
    @SuppressWarnings("resource")
    static GenericContainer<?> server(String image, int hostPort) {
        int main = 8848;
        int grpc = main + NacosStandIn.GRPC_OFFSET;
        return new GenericContainer<>(DockerImageName.parse(image))
                .withEnv("MODE", "standalone")
                .withEnv("NACOS_AUTH_ENABLE", "false")
                // Required at start-up since 2.2.1 even with client auth off; test values only.
                .withEnv("NACOS_AUTH_TOKEN", "cm9zdGVyLXRlc3QtdG9rZW4tcm9zdGVyLXRlc3QtdG9rZW4tMDEyMzQ1Njc4OQ==")
                .withEnv("NACOS_AUTH_IDENTITY_KEY", "roster")
                .withEnv("NACOS_AUTH_IDENTITY_VALUE", "roster")
                .withExposedPorts(main, grpc)
                .withCreateContainerCmdModifier(cmd -> cmd.getHostConfig().withPortBindings(
                        new PortBinding(Ports.Binding.bindPort(hostPort), new ExposedPort(main)),
                        new PortBinding(Ports.Binding.bindPort(hostPort + NacosStandIn.GRPC_OFFSET),
                                new ExposedPort(grpc))))
                .waitingFor(Wait.forLogMessage(".*Nacos started successfully.*", 1)
                        .withStartupTimeout(Duration.ofMinutes(3)));
    }

    static String uri(GenericContainer<?> nacos, int hostPort) {
        return "nacos://" + nacos.getHost() + ":" + hostPort + "?timeout=5s";
    }

    @BeforeAll
    static void startJvmWideClientThreads() {
        NacosContractTest.NacosFixture.startJvmWideClientThreads(() -> Registries.open(uri(NACOS, HOST_PORT)));
    }

    @Override
    protected RegistryFixture fixture() {
        return new NacosContractTest.NacosFixture(() -> Registries.open(uri(NACOS, HOST_PORT)));
    }
}
