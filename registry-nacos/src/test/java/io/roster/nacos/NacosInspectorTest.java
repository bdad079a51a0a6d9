package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.pojo.Instance;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.RegistryUri;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@link NacosInspector}: the checks on Nacos instances as nacos-client returns them, and a read of the stand-in. */
class NacosInspectorTest {

    private static Instance nacos(String ip, int port, boolean healthy, String... metadata) {
        Instance instance = new Instance();
        instance.setIp(ip);
        instance.setPort(port);
        instance.setClusterName("DEFAULT");
        instance.setHealthy(healthy);
        Map<String, String> map = new TreeMap<>();
        for (int i = 0; i < metadata.length; i += 2) {
            map.put(metadata[i], metadata[i + 1]);
        }
        instance.setMetadata(map);
        return instance;
    }

    private static String at(String ip, int port, String service) {
        return ip + "#" + port + "#DEFAULT#DEFAULT_GROUP@@" + service;
    }

    @Test
    void eachProblemIsNamedWithItsNacosInstance() {
        Map<String, List<Instance>> lists = new TreeMap<>();
        lists.put("greeter.grpc", List.of(
                nacos("10.0.0.1", 9000, true, "kind", "grpc", "version", "v1"), // Go Kratos: fine
                nacos("10.0.0.2", 9000, true, "kind", "grpc", "version", "v1", "roster.instance", "half#1/2"),
                nacos("10.0.0.3", 9000, true, "kind", "grpc", "version", "v1", "roster.instance", "whole#1/2"),
                nacos("10.0.0.4", 9000, false, "kind", "grpc", "version", "v1"),
                nacos("10.0.0.5", 9000, true, "kind", "grpc", "roster.instance", "garbage"),
                nacos("10.0.0.6", 9000, true, "kind", "grpc", "roster.instance", "twice#1/1"),
                nacos("10.0.0.7", 9000, true, "kind", "grpc", "roster.instance", "twice#1/1")));
        lists.put("greeter.http", List.of(
                nacos("10.0.0.3", 8000, true, "kind", "http", "version", "v1", "roster.instance", "whole#2/2"),
                nacos("10.0.0.8", 8000, true, "kind", "grpc", "version", "v1")));
        lists.put(".grpc", List.of(nacos("10.0.0.9", 9000, true, "kind", "grpc")));
        lists.put("plain-service", List.of(nacos("10.0.0.10", 80, true))); // plain nacos-client: fine

        Inspection.Builder builder = Inspection.builder("test");
        NacosInspector.check(builder, "DEFAULT_GROUP", lists);
        Inspection inspection = builder.build();

        assertThat(inspection.problems()).extracting(p -> p.location() + " " + p.kind().code()).containsExactly(
                at("10.0.0.9", 9000, ".grpc") + " empty-service-name",
                at("10.0.0.4", 9000, "greeter.grpc") + " unhealthy",
                at("10.0.0.5", 9000, "greeter.grpc") + " not-decodable",
                at("10.0.0.8", 8000, "greeter.http") + " name-mismatch",
                at("10.0.0.2", 9000, "greeter.grpc") + " partial-instance",
                at("10.0.0.7", 9000, "greeter.grpc") + " duplicate-id");
        assertThat(inspection.problems().get(4).detail()).contains("half").contains("[2] of 2 missing");
        assertThat(inspection.records()).hasSize(11);
        assertThat(inspection.records().stream().filter(r -> r.location().equals(at("10.0.0.3", 8000,
                "greeter.http"))).findFirst().orElseThrow().instance().orElseThrow())
                .satisfies(i -> {
                    assertThat(i.id()).isEqualTo("whole");
                    assertThat(i.name()).isEqualTo("greeter");
                    assertThat(i.endpoints()).containsExactly(URI.create("http://10.0.0.3:8000"));
                });
    }

    @Test
    void theStandInIsReadThroughNacosClient() throws Exception {
        try (NacosStandIn server = NacosStandIn.start()) {
            String uri = "nacos://" + server.address();
            Properties properties = new Properties();
            properties.setProperty(PropertyKeyConst.SERVER_ADDR, server.address());
            NamingService plain = NamingFactory.createNamingService(properties);
            try (Registry registry = Registries.open(uri)) {
                registry.register(ServiceInstance.builder().name("greeter").id("g1").version("v1")
                        .endpoint("grpc://10.0.0.1:9000").endpoint("http://10.0.0.1:8000").build());
                // One endpoint of two, as a registry that died half-way through leaves it.
                plain.registerInstance("greeter.grpc", nacos("10.0.0.2", 9000, true, "kind", "grpc", "version",
                        "v1", "roster.instance", "g2#1/2"));
                await().until(() -> new NacosInspector().inspect(registry, RegistryUri.parse(URI.create(uri)),
                        null).records().size() == 3);

                Inspection all = new NacosInspector().inspect(registry, RegistryUri.parse(URI.create(uri)), null);
                assertThat(all.problems()).extracting(p -> p.kind().code()).containsExactly("partial-instance");
                assertThat(all.problems().get(0).location()).contains("10.0.0.2#9000");
                assertThat(all.raw()).isTrue();

                Inspection one = new NacosInspector().inspect(registry, RegistryUri.parse(URI.create(uri)),
                        "greeter");
                assertThat(one.records()).hasSize(3);
                assertThat(new NacosInspector().inspect(registry, RegistryUri.parse(URI.create(uri)), "gree")
                        .records()).isEmpty();
            } finally {
                plain.shutDown();
            }
        }
    }
}
