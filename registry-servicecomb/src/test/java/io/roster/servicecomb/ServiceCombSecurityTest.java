package io.roster.servicecomb;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Service-center's RBAC: a token fetched with the URI's user and password, fetched again when it expires. */
class ServiceCombSecurityTest {
    @RegisterExtension
    static final ServiceCenterStandIn SC = ServiceCenterStandIn.builder().minimums(1, 1)
            .account("root", "p@ss/w0rd").build();
    private static final Duration BOUND = Duration.ofSeconds(10);

    @Test
    void credentialsFromTheUriLogInAndAnExpiredTokenIsRenewed() throws Exception {
        String service = TestInstances.serviceName("rbac");
        ServiceInstance instance = TestInstances.of(service, "s-1");
        try (Registry registry = Registries.open("servicecomb://root:p%40ss%2Fw0rd@" + SC.address()
                + "?heartbeat=1s&times=2");
             Registry observer = Registries.open("servicecomb://root:p%40ss%2Fw0rd@" + SC.address())) {
            registry.register(instance);
            try (Watcher watcher = observer.watch(service)) {
                Watching.awaitIds(watcher, BOUND, Set.of("s-1"));

                SC.expireTokens();

                registry.register(TestInstances.of(service, "s-2"));
                Watching.awaitIds(watcher, BOUND, Set.of("s-1", "s-2"));
                assertThat(observer.getService(service)).hasSize(2);
            }
        }
    }

    @Test
    void wrongCredentialsAreRefusedWithoutShowingThePassword() {
        try (Registry registry = Registries.open("servicecomb://root:guess-me@" + SC.address())) {
            assertThatThrownBy(() -> registry.register(TestInstances.of(TestInstances.serviceName("x"), "x-1")))
                    .isInstanceOf(RegistryAccessDeniedException.class)
                    .hasMessageContaining("user")
                    .hasMessageNotContaining("guess-me");
        }
        try (Registry registry = Registries.open("servicecomb://" + SC.address())) {
            assertThatThrownBy(() -> registry.getService("anything")).isInstanceOf(RegistryAccessDeniedException.class);
        }
    }
}
