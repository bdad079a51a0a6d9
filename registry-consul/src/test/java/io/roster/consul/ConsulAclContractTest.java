package io.roster.consul;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.Set;

/**
 * The contract suite against the stand-in answering as Consul 1.10 with ACLs on, as Consul runs in production:
 * an unknown service or check answers HTTP 500, not 404, and filtered reads carry no header.
 */
class ConsulAclContractTest extends RegistryContract {
    private static final String TOKEN = "contract-write-secret-0a1b2c3d";

    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder().dialect(ConsulStandIn.Dialect.V1_10)
            .acl(Set.of(TOKEN), Set.of()).build();

    @Override
    protected RegistryFixture fixture() {
        return new ConsulFixture(() -> ConsulFixture.registry(consul.address()).token(TOKEN),
                ConsulStandIn::isServerThread);
    }
}
