package io.roster.servicecomb;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite against the in-JVM service-center stand-in (minimums lowered to 1 s and 1 time). */
class ServiceCombContractTest extends RegistryContract {
    @RegisterExtension
    static final ServiceCenterStandIn SC = ServiceCenterStandIn.builder().minimums(1, 1).build();

    @Override
    protected RegistryFixture fixture() {
        return new ServiceCombFixture(() -> ServiceCombFixture.registry(SC.address()), ServiceCombFixture.TTL,
                ServiceCenterStandIn::isServerThread);
    }
}
