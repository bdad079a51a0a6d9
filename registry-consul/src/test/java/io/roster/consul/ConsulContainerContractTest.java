package io.roster.consul;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.ThreadLeaks;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/** The contract suite against a real Consul ({@code hashicorp/consul}, dev mode); skipped without Docker. */
@Testcontainers(disabledWithoutDocker = true)
class ConsulContainerContractTest extends RegistryContract {
    @Container
    static final ConsulContainer CONSUL = new ConsulContainer();

    @Override
    protected RegistryFixture fixture() {
        return new ConsulFixture(() -> ConsulFixture.registry(CONSUL.address()), ThreadLeaks::isContainerHarness);
    }
}
