package io.roster.servicecomb;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.RegistryUri;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The {@code servicecomb://} URI, its options and their validation, and bad instances refused before any request. */
class ServiceCombRegistryProviderTest {
    @RegisterExtension
    static final ServiceCenterStandIn SC = ServiceCenterStandIn.builder().minimums(1, 1).build();

    private static ServiceCombConfig config(String uri) {
        return ServiceCombRegistryProvider.builder(RegistryUri.parse(URI.create(uri))).config();
    }

    @Test
    void theIssuesUriOpensARegistry() {
        try (Registry registry = Registries.open("servicecomb://" + SC.address()
                + "?app=default&environment=&project=default")) {
            assertThat(registry).isInstanceOf(ServiceCombRegistry.class);
            assertThat(registry.getService(TestInstances.serviceName("nobody"))).isEmpty();
        }
    }

    @Test
    void everyOptionIsRead() {
        ServiceCombConfig c = config("servicecomb://alice:s3cr%40t@10.0.0.1:30100,10.0.0.2?app=shop"
                + "&environment=production&project=p1&domain=d1&heartbeat=10s&times=4&timeout=2s&refresh=20s"
                + "&consumer=shop-gateway");
        assertThat(c.addresses).containsExactly(URI.create("http://10.0.0.1:30100/"), URI.create("http://10.0.0.2:30100/"));
        assertThat(c.app).isEqualTo("shop");
        assertThat(c.environment).isEqualTo("production");
        assertThat(c.project).isEqualTo("p1");
        assertThat(c.domain).isEqualTo("d1");
        assertThat(c.heartbeat).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.times).isEqualTo(4);
        assertThat(c.ttl()).isEqualTo(Duration.ofSeconds(50));
        assertThat(c.timeout).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.refresh).isEqualTo(Duration.ofSeconds(20));
        assertThat(c.consumer).isEqualTo("shop-gateway");
        assertThat(c.user).isEqualTo("alice");
        assertThat(c.password).isEqualTo("s3cr@t");
        assertThat(c.toString()).doesNotContain("s3cr").contains("password=***");
        ServiceCombConfig defaults = config("servicecomb:///");
        assertThat(defaults.addresses).containsExactly(URI.create("http://127.0.0.1:30100/"));
        assertThat(defaults.app).isEqualTo("default");
        assertThat(defaults.environment).isEmpty();
        assertThat(defaults.ttl()).isEqualTo(Duration.ofSeconds(120)); // service-center's default 30 s × (3 + 1)
    }

    @Test
    void secretsNeverShow() {
        ServiceCombConfig c = config("servicecomb://127.0.0.1:30100?token=tok-123");
        assertThat(c.token).isEqualTo("tok-123");
        assertThat(c.toString()).doesNotContain("tok-123");
        try (Registry r = Registries.open("servicecomb://bob:hunter2@" + SC.address())) {
            assertThat(r.toString()).doesNotContain("hunter2").doesNotContain("bob:");
        }
        assertThatThrownBy(() -> config("servicecomb://127.0.0.1?token=tok-123&tls=maybe"))
                .isInstanceOf(InvalidOptionException.class).hasMessageNotContaining("tok-123");
        assertThatThrownBy(() -> config("servicecomb://u:pw@127.0.0.1?token=tok-123"))
                .isInstanceOf(InvalidOptionException.class).hasMessageNotContaining("tok-123")
                .hasMessageNotContaining("pw");
    }

    @Test
    void badOptionsAreRefusedNamingTheOption() {
        Map<String, String> bad = Map.of(
                "servicecomb://h?app=bad%20app", "app",
                "servicecomb://h?app=-x", "app",
                "servicecomb://h?environment=staging", "environment",
                "servicecomb://h?heartbeat=1500ms", "heartbeat",
                "servicecomb://h?times=0", "times",
                "servicecomb://h?consumer=a/b", "consumer",
                "servicecomb://h?project=a/b", "project",
                "servicecomb://h?colour=blue", "colour",
                "servicecomb://h/path", "path",
                "servicecomb://h?refresh=10ms", "refresh");
        bad.forEach((uri, option) -> assertThatThrownBy(() -> config(uri)).as(uri)
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining(option));
        for (String address : List.of("h:0", "h:", "h:99999")) { // not the default port instead
            assertThatThrownBy(() -> ServiceCombRegistry.builder().address(address).config()).as(address)
                    .isInstanceOf(InvalidOptionException.class).hasMessageContaining("port between 1 and 65535");
        }
    }

    @Test
    void instancesServiceCenterWouldRefuseAreRejectedBeforeAnyRequest() {
        String service = TestInstances.serviceName("bad");
        Map<String, ServiceInstance.Builder> bad = Map.of(
                "version", TestInstances.instance(service, "a").version("latest"),
                "id", TestInstances.instance(service, "a:b"),
                "name", TestInstances.instance(service + "_", "a"),
                "metadata", TestInstances.instance(service, "a").metadata("environment", "x"));
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(SC.address()).build()) {
            long before = SC.requests();
            bad.forEach((field, builder) -> assertThatThrownBy(() -> registry.register(builder.build()))
                    .as(field).isInstanceOf(InvalidInstanceException.class)
                    .satisfies(e -> assertThat(((InvalidInstanceException) e).field()).isEqualTo(field))
                    .hasMessageContaining("must"));
            assertThat(SC.requests()).as("requests sent for bad instances").isEqualTo(before);
            assertThat(registry.getService(service)).isEmpty();
        }
    }

    @Test
    void namesServiceCenterCannotHoldAreReadAsEmptyWithoutARequest() {
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(SC.address()).build()) {
            long before = SC.requests();
            assertThat(registry.getService("_private.svc")).isEmpty();
            assertThat(SC.requests()).isEqualTo(before);
        }
    }
}
