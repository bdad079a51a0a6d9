package io.roster.consul;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite against the in-JVM Consul stand-in. */
class ConsulContractTest extends RegistryContract {
    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder().build();

    @Override
    protected RegistryFixture fixture() {
        return new ConsulFixture(() -> ConsulFixture.registry(consul.address()), ConsulStandIn::isServerThread);
    }
}
