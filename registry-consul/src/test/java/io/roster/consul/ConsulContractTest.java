package io.roster.consul;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The contract suite against the in-JVM Consul stand-in. */
class ConsulContractTest extends RegistryContract {
    private static ConsulStandIn consul;

    @BeforeAll
    static void startConsul() {
        consul = ConsulStandIn.builder().start();
    }

    @AfterAll
    static void stopConsul() {
        consul.close();
    }

    @Override
    protected RegistryFixture fixture() {
        return new ConsulFixture(() -> ConsulFixture.registry(consul.address()), ConsulStandIn::isServerThread);
    }
}
