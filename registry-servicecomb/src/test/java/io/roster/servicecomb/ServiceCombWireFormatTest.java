package io.roster.servicecomb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Kratos's ServiceComb layout, written and read: golden microservice and instance JSON, service-center versions,
 * and instances registered by Go Kratos (hand-written JSON, as its {@code contrib/registry/servicecomb} writes them)
 * read leniently by getService, watch and services().
 */
class ServiceCombWireFormatTest {
    @RegisterExtension
    static final ServiceCenterStandIn SC = ServiceCenterStandIn.builder().minimums(1, 1).build();
    private static final Duration BOUND = Duration.ofSeconds(10);

    private ServiceCombRegistry registry;

    @AfterEach
    void close() {
        if (registry != null) {
            registry.close();
        }
    }

    private ServiceCombRegistry open() {
        registry = ServiceCombFixture.registry(SC.address()).build();
        return registry;
    }

    @Test
    void microserviceJsonIsKratossWithOurFramework() {
        ServiceCombFormat.ServiceKey key = new ServiceCombFormat.ServiceKey("", "default", "helloworld", "1.0.0");
        assertThat(ServiceCombFormat.microservice(key)).isEqualTo("{\"service\":{\"serviceName\":\"helloworld\","
                + "\"appId\":\"default\",\"version\":\"1.0.0\",\"environment\":\"\",\"framework\":{\"name\":\"roster\","
                + "\"version\":\"1\"},\"registerBy\":\"SDK\"}}");
    }

    @Test
    void instanceJsonKeepsKratossKeysAndPutsOurMetadataInProperties() {
        ServiceInstance instance = ServiceInstance.builder().name("helloworld").id("7f3c9a1e-0b4d-11ef-9a2b-0242ac120002")
                .version("1.0.0").metadata("zone", "eu-1").metadata("weight", "80")
                .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build();

        String json = ServiceCombFormat.instance(instance, "sid-1", "default", "", 30, 3);

        assertThat(json).isEqualTo("{\"instance\":{\"instanceId\":\"7f3c9a1e-0b4d-11ef-9a2b-0242ac120002\","
                + "\"serviceId\":\"sid-1\",\"endpoints\":[\"grpc://10.0.0.5:9000\",\"http://10.0.0.5:8000\"],"
                + "\"hostName\":\"7f3c9a1e-0b4d-11ef-9a2b-0242ac120002\",\"status\":\"UP\",\"properties\":{"
                + "\"appId\":\"default\",\"environment\":\"\",\"weight\":\"80\",\"zone\":\"eu-1\"},"
                + "\"healthCheck\":{\"mode\":\"push\",\"interval\":30,\"times\":3},\"version\":\"1.0.0\"}}");
    }

    @Test
    void versionsServiceCenterCannotHoldAreRegisteredUnderTheirCoreAndKeptExactly() {
        assertThat(ServiceCombFormat.serverVersion("1.2.3")).isEqualTo("1.2.3");
        assertThat(ServiceCombFormat.serverVersion("1.2.3.4")).isEqualTo("1.2.3.4");
        assertThat(ServiceCombFormat.serverVersion("v1.2.0")).isEqualTo("1.2.0");
        assertThat(ServiceCombFormat.serverVersion("2.3.4-rc.1")).isEqualTo("2.3.4");
        assertThat(ServiceCombFormat.serverVersion("V7+build.5")).isEqualTo("7");
        assertThat(ServiceCombFormat.serverVersion("")).isEqualTo("0.0.0");
        for (String bad : List.of("latest", "1.2.3.4.5", "32768", "1.99999", "v", "1..2")) {
            assertThatThrownBy(() -> ServiceCombFormat.serverVersion(bad)).as(bad)
                    .isInstanceOf(InvalidInstanceException.class)
                    .satisfies(e -> assertThat(((InvalidInstanceException) e).field()).isEqualTo("version"))
                    .hasMessageContaining("0-32767");
        }

        ServiceInstance instance = TestInstances.instance(TestInstances.serviceName("ver"), "v-1")
                .version("v2.3.4-rc.1").build();
        open().register(instance);

        ObjectNode service = SC.microservice(instance.name(), null);
        assertThat(service.path("version").asText()).isEqualTo("2.3.4");
        assertThat(service.path("framework").path("name").asText()).isEqualTo("roster");
        ObjectNode stored = SC.instance("v-1");
        assertThat(stored.path("version").asText()).isEqualTo("2.3.4"); // the server's, as service-center sets it
        assertThat(stored.path("properties").path("roster.version").asText()).isEqualTo("v2.3.4-rc.1");
        assertThat(registry.getService(instance.name())).containsExactly(instance);
    }

    @Test
    void registeredInstanceIsStoredAsKratosWritesIt() {
        String service = TestInstances.serviceName("golden");
        ServiceInstance instance = ServiceInstance.builder().name(service).id("golden-1").version("1.0.0")
                .metadata("zone", "eu-1").endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build();

        open().register(instance);

        ObjectNode stored = SC.instance("golden-1");
        assertThat(stored.path("instanceId").asText()).isEqualTo("golden-1");
        assertThat(stored.path("hostName").asText()).isEqualTo("golden-1");
        assertThat(stored.path("endpoints").toString()).isEqualTo("[\"grpc://10.0.0.5:9000\",\"http://10.0.0.5:8000\"]");
        assertThat(stored.path("properties").toString())
                .isEqualTo("{\"appId\":\"default\",\"environment\":\"\",\"zone\":\"eu-1\"}");
        assertThat(stored.path("status").asText()).isEqualTo("UP");
        assertThat(stored.path("healthCheck").toString()).isEqualTo("{\"mode\":\"push\",\"interval\":1,\"times\":2}");
        ObjectNode microservice = SC.microservice(service, "1.0.0");
        assertThat(microservice.path("appId").asText()).isEqualTo("default");
        assertThat(microservice.path("environment").asText()).isEmpty();
        assertThat(stored.path("serviceId").asText()).isEqualTo(microservice.path("serviceId").asText());
    }

    @Test
    void kratosRegisteredInstancesAreReadLeniently() throws Exception {
        String service = TestInstances.serviceName("kratos");
        String microservice = "{\"serviceName\":\"" + service + "\",\"appId\":\"default\",\"version\":\"1.0.0\","
                + "\"environment\":\"\",\"framework\":{\"name\":\"kratos\",\"version\":\"v2\"}}";
        // As contrib/registry/servicecomb writes them: hostName = id, Kratos's two properties, endpoints verbatim.
        SC.plant(microservice, "{\"instanceId\":\"0b9ad2a4-5fe1-4bb0-8d3a-4e1c3b2a1f00\","
                + "\"hostName\":\"0b9ad2a4-5fe1-4bb0-8d3a-4e1c3b2a1f00\",\"status\":\"UP\","
                + "\"endpoints\":[\"grpc://10.0.0.7:9000?isSecure=false\",\"http://10.0.0.7:8000\"],"
                + "\"properties\":{\"appId\":\"default\",\"environment\":\"\"},\"version\":\"1.0.0\"}", 60);
        // Java-chassis style endpoints and a version with spaces in a property: kept as written.
        SC.plant(microservice, "{\"instanceId\":\"chassis-1\",\"hostName\":\"box\",\"status\":\"UP\","
                + "\"endpoints\":[\"rest://10.0.0.8:8080?sslEnabled=false\",\"not an endpoint\"],"
                + "\"properties\":{\"roster.version\":\"1.0 beta\",\"\":\"empty key\"},\"version\":\"1.0.0\"}", 60);
        // Unusable (no endpoint) and not live (DOWN): skipped.
        SC.plant(microservice, "{\"instanceId\":\"no-endpoints\",\"hostName\":\"x\",\"status\":\"UP\","
                + "\"endpoints\":[]}", 60);
        SC.plant(microservice, "{\"instanceId\":\"down-1\",\"hostName\":\"x\",\"status\":\"DOWN\","
                + "\"endpoints\":[\"grpc://10.0.0.9:9000\"]}", 60);

        ServiceInstance kratos = ServiceInstance.builder().name(service).id("0b9ad2a4-5fe1-4bb0-8d3a-4e1c3b2a1f00")
                .version("1.0.0").endpoint(URI.create("grpc://10.0.0.7:9000?isSecure=false"))
                .endpoint("http://10.0.0.7:8000").buildLenient();
        ServiceInstance chassis = ServiceInstance.builder().name(service).id("chassis-1").version("1.0 beta")
                .metadata(Map.of("", "empty key")).endpoint(URI.create("rest://10.0.0.8:8080?sslEnabled=false"))
                .buildLenient();

        assertThat(open().getService(service)).containsExactly(kratos, chassis);
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(kratos, chassis));
        }
        assertThat(registry.services()).contains(service);
    }

    @Test
    void storedJsonOfAnUpdateKeepsKratossKeys() {
        String service = TestInstances.serviceName("upd");
        ServiceInstance first = TestInstances.instance(service, "u-1").version("1.0.0").build();
        open().register(first);
        ServiceInstance updated = first.toBuilder().metadata("color", "blue").build();

        registry.register(updated);

        await().atMost(BOUND).untilAsserted(() -> {
            JsonNode properties = SC.instance("u-1").path("properties");
            assertThat(properties.path("color").asText()).isEqualTo("blue");
            assertThat(properties.path("appId").asText()).isEqualTo("default");
            assertThat(properties.has("environment")).isTrue();
        });
        assertThat(registry.getService(service)).containsExactly(updated);
    }
}
