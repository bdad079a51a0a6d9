package io.roster.nacos;

import io.roster.Registries;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.BeforeAll;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/** The contract suite against a real Nacos 2.x (the last 2.x line). Skipped where Docker is absent. */
@Testcontainers(disabledWithoutDocker = true)
class Nacos2ContainerContractTest extends RegistryContract {
    private static final int HOST_PORT = NacosStandIn.freeMainPort();

    @Container
    private static final GenericContainer<?> NACOS =
            NacosContainerContractTest.server("nacos/nacos-server:v2.5.1", HOST_PORT);

    @BeforeAll
    static void startJvmWideClientThreads() {
        NacosContractTest.NacosFixture.startJvmWideClientThreads(
                () -> Registries.open(NacosContainerContractTest.uri(NACOS, HOST_PORT)));
    }

    @Override
    protected RegistryFixture fixture() {
        return new NacosContractTest.NacosFixture(
                () -> Registries.open(NacosContainerContractTest.uri(NACOS, HOST_PORT)));
    }
}
