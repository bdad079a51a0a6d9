package io.roster.servicecomb;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.ThreadLeaks;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

import java.time.Duration;

/**
 * The contract suite against a real service-center ({@code servicecomb/service-center}); skipped without Docker.
 * The real server raises the health check to its minimums (5 s, 3 times), so instances expire after 20 s.
 */
@Testcontainers(disabledWithoutDocker = true)
class ServiceCombContainerContractTest extends RegistryContract {
    @Container
    static final ServiceCenterContainer SC = new ServiceCenterContainer();

    @Override
    protected RegistryFixture fixture() {
        return new ServiceCombFixture(() -> ServiceCombFixture.registry(SC.address()).heartbeat(Duration.ofSeconds(5))
                .times(3), Duration.ofSeconds(20), ThreadLeaks::isContainerHarness);
    }
}
