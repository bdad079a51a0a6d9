package io.roster.polaris;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Bad options and bad instances are refused before anything is sent; secrets never show. */
class PolarisOptionsTest {
    private static PolarisTestServer polaris;

    @BeforeAll
    static void start() {
        polaris = PolarisTestServer.start();
    }

    @AfterAll
    static void stop() {
        polaris.close();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "ttl=0s|ttl|must be positive",
        "ttl=61s|ttl|from 1 to 60",
        "ttl=1500ms|ttl|whole seconds",
        "weight=abc|weight|expected an integer",
        "weight=0|weight|from 1 to 10000",
        "weight=10001|weight|from 1 to 10000",
        "namespace=|namespace|must not be empty",
        "namespace=a%20b|namespace|letters, digits",
        "refresh=1s|refresh|at least 2 s",
        "registrySchemes=GRPC|registrySchemes|lower-case",
        "certFile=/tmp/x.pem|keyFile|together",
        "tyo=5s|tyo|unknown polaris option",
    })
    void badOptionsAreRefusedNamingTheOption(String option, String name, String message) {
        assertThatThrownBy(() -> Registries.open("polaris://" + polaris.address() + "?" + option))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining(message)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(name));
    }

    @Test
    void missingServerOrNamespaceIsRefused() {
        assertThatThrownBy(() -> PolarisRegistry.builder().build()).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("server address");
        assertThatThrownBy(() -> PolarisRegistry.builder().address(polaris.address()).namespace(" ").build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("namespace");
        assertThatThrownBy(() -> Registries.open("polaris://127.0.0.1:8091/prod"))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("namespace is an option");
    }

    @Test
    void badInstancesAreRefusedBeforeAnythingIsSent() {
        String service = TestInstances.serviceName("bad");
        try (Registry registry = Registries.open("polaris://" + polaris.address() + "?namespace=opts")) {
            for (ServiceInstance bad : new ServiceInstance[] {
                TestInstances.instance(service, "w").metadata("weight", "heavy").build(),
                TestInstances.instance(service, "w").metadata("weight", "1.5").build(),
                TestInstances.instance(service, "w").metadata("weight", "10001").build(),
                TestInstances.instance(service, "m").metadata("merge", "x").build(),
                TestInstances.instance(service, "p").metadata("roster.part", "1/1").build(),
                ServiceInstance.builder().name(service).id("e").build(),
                ServiceInstance.builder().name(service).id("s").endpoint("grpc://127.0.0.1:7000")
                        .endpoint("http://127.0.0.1:7000").build(),
            }) {
                assertThatThrownBy(() -> registry.register(bad)).as(bad.toString())
                        .isInstanceOf(InvalidInstanceException.class);
            }
            assertThatThrownBy(() -> registry.register(TestInstances.instance(service, "w")
                    .metadata("weight", "heavy").build())).hasMessageContaining("metadata[weight]");
            assertThat(polaris.instances("opts", service)).isEmpty();
        }
    }

    @Test
    void secretsNeverShowAndTheAccessTokenReachesTheServer() {
        String uri = "polaris://" + polaris.address() + "?namespace=opts&token=svc-s3cret&accessToken=acc-s3cret";
        assertThatThrownBy(() -> Registries.open(uri + "&weight=x"))
                .hasMessageNotContaining("s3cret");
        String service = TestInstances.serviceName("secret");
        try (Registry registry = Registries.open(uri)) {
            assertThat(registry.toString()).doesNotContain("s3cret");
            registry.register(TestInstances.of(service, "s"));
            assertThat(polaris.accessTokens()).contains("acc-s3cret");
            assertThat(polaris.instances("opts", service)).allSatisfy(
                    i -> assertThat(i.getServiceToken().getValue()).isEqualTo("svc-s3cret"));
        }
    }

    @Test
    void anUnreachableServerIsUnavailableWithinTheTimeout() {
        try (Registry registry = PolarisRegistry.builder().address("127.0.0.1:1").timeout(Duration.ofSeconds(1))
                .build()) {
            long start = System.nanoTime();
            assertThatThrownBy(() -> registry.register(TestInstances.of(TestInstances.serviceName("down"), "d")))
                    .isInstanceOf(io.roster.RegistryUnavailableException.class);
            // The SDK answers a timeout with an empty list when it has nothing cached: not "no instances".
            assertThatThrownBy(() -> registry.getService("down"))
                    .isInstanceOf(io.roster.RegistryUnavailableException.class)
                    .hasMessageContaining("no answer from Polaris");
            assertThatThrownBy(registry::services).isInstanceOf(io.roster.RegistryUnavailableException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(15));
        }
    }
}
