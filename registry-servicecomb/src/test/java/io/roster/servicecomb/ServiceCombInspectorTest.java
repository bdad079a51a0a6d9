package io.roster.servicecomb;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link ServiceCombInspector} on microservices and instances planted in the service-center stand-in as Go Kratos,
 * Java-chassis, Roster and careless clients leave them.
 */
class ServiceCombInspectorTest {
    private ServiceCenterStandIn sc;

    @BeforeEach
    void start() {
        sc = ServiceCenterStandIn.builder().minimums(1, 1).build().start();
    }

    @AfterEach
    void stop() {
        sc.close();
    }

    private static Inspection inspect(Registry registry, String service) {
        return new ServiceCombInspector().inspect(registry, RegistryUri.parse(URI.create("servicecomb://x")),
                service);
    }

    private static String microservice(String name, String version, String app, String framework) {
        return "{\"serviceName\":\"" + name + "\",\"appId\":\"" + app + "\",\"version\":\"" + version
                + "\",\"environment\":\"\",\"framework\":{\"name\":\"" + framework + "\",\"version\":\"1\"}}";
    }

    private static String instance(String id, String version, String status, String endpoints, String properties) {
        return "{\"instanceId\":\"" + id + "\",\"hostName\":\"" + id + "\",\"status\":\"" + status
                + "\",\"version\":\"" + version + "\",\"endpoints\":" + endpoints + ",\"properties\":" + properties
                + "}";
    }

    private static Map<String, List<String>> kindsByInstance(Inspection inspection) {
        return inspection.problems().stream().collect(Collectors.groupingBy(
                p -> p.location().substring(p.location().indexOf('/') + 1), LinkedHashMap::new,
                Collectors.mapping(p -> p.kind().code(), Collectors.toList())));
    }

    @Test
    void everyPlantedProblemIsNamedWithItsInstance() throws Exception {
        String svc = TestInstances.serviceName("greeter");
        String kratosProps = "{\"appId\":\"default\",\"environment\":\"\"}";
        sc.plant(microservice(svc, "1.0.0", "default", "kratos"),
                instance("kratos-1", "1.0.0", "UP", "[\"grpc://10.1.0.1:9000\"]", kratosProps), 60);
        sc.plant(microservice(svc, "1.0.0", "default", "kratos"),
                instance("chassis-1", "1.0.0", "UP", "[\"rest://10.1.0.2:8080?sslEnabled=false\"]", "{}"), 60);
        sc.plant(microservice(svc, "1.0.0", "default", "kratos"),
                instance("down-1", "1.0.0", "DOWN", "[\"grpc://10.1.0.3:9000\"]", kratosProps), 60);
        sc.plant(microservice(svc, "1.0.0", "default", "kratos"),
                instance("hostless-1", "1.0.0", "UP", "[\"grpc://:9000\"]", kratosProps), 60);
        sc.plant(microservice(svc, "1.2.0", "default", "roster"),
                instance("moved-1", "1.2.0", "UP", "[\"grpc://10.1.0.4:9000\"]",
                        "{\"appId\":\"default\",\"environment\":\"\",\"roster.version\":\"v1.3.0\"}"), 60);
        sc.plant(microservice(svc, "1.2.0", "default", "roster"),
                instance("rewritten-1", "1.2.0", "UP", "[\"grpc://10.1.0.5:9000\"]", "{\"zone\":\"a\"}"), 60);
        sc.plant(microservice(svc, "1.0.0", "default", "kratos"),
                instance("dup-1", "1.0.0", "UP", "[\"grpc://10.1.0.6:9000\"]", kratosProps), 60);
        sc.plant(microservice(svc, "2.0.0", "default", "kratos"),
                instance("dup-1", "2.0.0", "UP", "[\"grpc://10.1.0.7:9000\"]", kratosProps), 60);
        sc.plant(microservice(svc, "1.0.0", "elsewhere", "kratos"),
                instance("other-app-1", "1.0.0", "DOWN", "[]", "{}"), 60);

        try (ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).build()) {
            Inspection inspection = inspect(registry, null);

            assertThat(inspection.raw()).isTrue();
            assertThat(inspection.layout()).contains("app default");
            assertThat(inspection.records()).extracting(r -> r.location().substring(r.location().indexOf('/') + 1))
                    .containsExactly("kratos-1", "chassis-1", "down-1", "hostless-1", "dup-1", "moved-1",
                            "rewritten-1", "dup-1")
                    .doesNotContain("other-app-1");
            Map<String, List<String>> kinds = kindsByInstance(inspection);
            assertThat(kinds).doesNotContainKey("kratos-1")
                    .containsEntry("chassis-1", List.of("bad-endpoint"))
                    .containsEntry("down-1", List.of("unhealthy"))
                    .containsEntry("hostless-1", List.of("bad-endpoint", "no-endpoint"))
                    .containsEntry("moved-1", List.of("version-mismatch"))
                    .containsEntry("rewritten-1", List.of("version-mismatch"))
                    .containsEntry("dup-1", List.of("duplicate-id"));
            assertThat(detail(inspection, "chassis-1")).contains("rest://10.1.0.2:8080", "Go Kratos clients");
            assertThat(detail(inspection, "down-1")).contains("status DOWN");
            assertThat(detail(inspection, "hostless-1")).contains("grpc://:9000", "readers drop it");
            assertThat(detail(inspection, "moved-1")).contains("'v1.3.0' (numeric 1.3.0)", "version 1.2.0");
            assertThat(detail(inspection, "rewritten-1")).contains("lack appId/environment");
            String firstDup = sc.microservice(svc, "1.0.0").path("serviceId").asText() + "/dup-1";
            assertThat(detail(inspection, "dup-1")).contains("also held by " + firstDup);

            assertThat(inspection.records()).filteredOn(r -> r.location().endsWith("/moved-1")).singleElement()
                    .satisfies(r -> assertThat(r.instance().orElseThrow().version()).isEqualTo("v1.3.0"));
            assertThat(inspect(registry, "nobody").records()).isEmpty();
        }
    }

    private static String detail(Inspection inspection, String instanceId) {
        return inspection.problems().stream().filter(p -> p.location().endsWith("/" + instanceId)).findFirst()
                .orElseThrow().detail();
    }

    @Test
    void whatRosterRegistersIsClean() {
        String svc = TestInstances.serviceName("clean");
        ServiceInstance exact = ServiceInstance.builder().name(svc).id("c-1").version("v1.2.0").metadata("zone", "a")
                .endpoint("grpc://127.0.0.1:9300").build();
        ServiceInstance numeric = ServiceInstance.builder().name(svc).id("c-2").version("2.0.0")
                .endpoint("http://127.0.0.1:9301").build();
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).build()) {
            registry.register(exact);
            registry.register(numeric);

            Inspection inspection = inspect(registry, svc);

            assertThat(inspection.isClean()).as("%s", inspection.problems()).isTrue();
            assertThat(inspection.records()).extracting(r -> r.instance().orElseThrow())
                    .containsExactly(exact, numeric);
        }
    }

    @Test
    void refusedCredentialsAndAnUnreachableServerFailAsTheRegistryDoes() {
        sc.close();
        sc = ServiceCenterStandIn.builder().minimums(1, 1).account("root", "secret").build().start();
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).credentials("root", "wrong")
                .build()) {
            assertThatThrownBy(() -> inspect(registry, null)).isInstanceOf(RegistryAccessDeniedException.class)
                    .hasMessageNotContaining("wrong");
        }
        try (ServiceCombRegistry registry = ServiceCombFixture.registry(sc.address()).timeout(Duration.ofSeconds(1))
                .build()) {
            sc.stop();
            long started = System.nanoTime();
            assertThatThrownBy(() -> inspect(registry, null)).isInstanceOf(RegistryUnavailableException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
        }
    }

    @Test
    void toolsFindItByScheme() {
        assertThat(ServiceLoader.load(Inspector.class).stream().map(ServiceLoader.Provider::get)
                .filter(i -> i.scheme().equals("servicecomb")).findFirst()).get()
                .isInstanceOf(ServiceCombInspector.class)
                .satisfies(i -> assertThat(i.timeoutOption()).contains("timeout"));
        try (Registry mem = Registries.open("mem://servicecomb-inspector-test")) {
            assertThat(inspect(mem, null).raw()).as("another registry type gets the generic check").isFalse();
        }
    }
}
