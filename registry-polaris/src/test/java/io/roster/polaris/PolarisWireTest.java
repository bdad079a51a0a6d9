package io.roster.polaris;

import com.google.protobuf.BoolValue;
import com.google.protobuf.StringValue;
import com.google.protobuf.UInt32Value;
import com.tencent.polaris.client.api.SDKContext;
import com.tencent.polaris.factory.config.ConfigurationImpl;
import com.tencent.polaris.specification.api.v1.service.manage.ServiceProto;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What reaches the server, read back from the test server's own store (not through this module's reader), and what
 * this module reads from records Go Kratos writes, hand-written into the store as its two Polaris variants lay them
 * out.
 */
class PolarisWireTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static PolarisTestServer polaris;

    @BeforeAll
    static void start() {
        polaris = PolarisTestServer.start();
    }

    @AfterAll
    static void stop() {
        polaris.close();
    }

    private static Registry open(String options) {
        return Registries.open("polaris://" + polaris.address() + "?namespace=wire&" + options);
    }

    @Test
    void registrationReachesTheServerInKratosContribPolarisLayout() {
        String service = TestInstances.serviceName("golden");
        ServiceInstance weighted = ServiceInstance.builder().name(service).id("i-1").version("v1.2.0")
                .metadata("zone", "eu-west").metadata("weight", "80")
                .endpoint("grpc://127.0.0.1:9000").endpoint("http://127.0.0.1:8000").build();
        ServiceInstance plain = ServiceInstance.builder().name(service).id("i-2")
                .endpoint("grpcs://[::1]:9443").build();
        try (Registry registry = open("ttl=7s&weight=250&token=svc-token")) {
            registry.register(weighted);
            registry.register(plain);

            List<ServiceProto.Instance> stored = polaris.instances("wire", service);
            stored.sort(Comparator.comparing(i -> i.getPort().getValue()));
            assertThat(stored).hasSize(3);
            ServiceProto.Instance http = stored.get(0);
            ServiceProto.Instance grpc = stored.get(1);
            ServiceProto.Instance grpcs = stored.get(2);
            assertPart(http, service, "127.0.0.1", 8000, "http", "v1.2.0", 80,
                    Map.of("zone", "eu-west", "weight", "80", "merge", "i-1", "roster.part", "2/2"));
            assertPart(grpc, service, "127.0.0.1", 9000, "grpc", "v1.2.0", 80,
                    Map.of("zone", "eu-west", "weight", "80", "merge", "i-1", "roster.part", "1/2"));
            // No weight metadata is invented: the Polaris weight comes from the option.
            assertPart(grpcs, service, "::1", 9443, "grpcs", "", 250, Map.of("merge", "i-2", "roster.part", "1/1"));
            for (ServiceProto.Instance i : stored) {
                assertThat(i.getHealthCheck().getType()).isEqualTo(ServiceProto.HealthCheck.HealthCheckType.HEARTBEAT);
                assertThat(i.getHealthCheck().getHeartbeat().getTtl().getValue()).isEqualTo(7);
                assertThat(i.getServiceToken().getValue()).isEqualTo("svc-token");
                assertThat(i.getNamespace().getValue()).isEqualTo("wire");
            }

            assertThat(registry.getService(service)).containsExactly(weighted, plain);
        }
        assertThat(polaris.instances("wire", service)).as("close() deregisters every endpoint").isEmpty();
    }

    private static void assertPart(ServiceProto.Instance i, String service, String host, int port, String protocol,
                                   String version, int weight, Map<String, String> metadata) {
        assertThat(i.getService().getValue()).isEqualTo(service);
        assertThat(i.getHost().getValue()).isEqualTo(host);
        assertThat(i.getPort().getValue()).isEqualTo(port);
        assertThat(i.getProtocol().getValue()).isEqualTo(protocol);
        assertThat(i.getVersion().getValue()).isEqualTo(version);
        assertThat(i.getWeight().getValue()).isEqualTo(weight);
        assertThat(i.getMetadataMap()).isEqualTo(metadata);
    }

    @Test
    void anUpdateReplacesTheRecordsOnTheServer() {
        String service = TestInstances.serviceName("update");
        ServiceInstance first = ServiceInstance.builder().name(service).id("u").version("v1")
                .endpoint("grpc://127.0.0.1:9100").endpoint("http://127.0.0.1:9101").build();
        ServiceInstance second = first.toBuilder().version("v2").metadata("color", "blue").endpoints(List.of())
                .endpoint("grpc://127.0.0.1:9100").build();
        try (Registry registry = open("ttl=5s")) {
            registry.register(first);
            registry.register(second);

            List<ServiceProto.Instance> stored = polaris.instances("wire", service);
            assertThat(stored).hasSize(1);
            assertThat(stored.get(0).getVersion().getValue()).isEqualTo("v2");
            assertThat(stored.get(0).getMetadataMap()).containsEntry("color", "blue").containsEntry("roster.part", "1/1");
        }
    }

    @Test
    void instancesWrittenByGoKratosContribPolarisAreReadWithEveryField() {
        String service = TestInstances.serviceName("kratos");
        // Kratos's contrib/polaris: one Polaris instance per endpoint, shared random merge key, weight metadata
        // (0 by default there), protocol field = scheme, version field.
        polaris.put(goInstance(service, "10.0.0.5", 9000, "grpc", Map.of("merge", "3f1c-uuid", "weight", "0",
                "region", "ap-guangzhou")).build());
        polaris.put(goInstance(service, "10.0.0.5", 8000, "http", Map.of("merge", "3f1c-uuid", "weight", "0",
                "region", "ap-guangzhou")).build());
        // Unhealthy and isolated instances are not served; one endpoint of a group left is still served.
        polaris.put(goInstance(service, "10.0.0.6", 9000, "grpc", Map.of("merge", "other")).build());
        polaris.put(goInstance(service, "10.0.0.6", 8000, "http", Map.of("merge", "other"))
                .setHealthy(BoolValue.of(false)).build());
        polaris.put(goInstance(service, "10.0.0.7", 9000, "grpc", Map.of("merge", "isolated"))
                .setIsolate(BoolValue.of(true)).build());
        // No protocol, scheme in metadata kind; no merge: the Polaris id is the id. A version with a space is kept.
        polaris.put(goInstance(service, "10.0.0.8", 9000, "", Map.of("kind", "grpc")).setId(StringValue.of("pid-8"))
                .setVersion(StringValue.of("v 2")).build());
        // Unusable: no scheme anywhere, or no host. Skipped, logged once.
        polaris.put(goInstance(service, "10.0.0.9", 9000, "", Map.of("merge", "broken")).build());
        polaris.put(goInstance(service, "", 9000, "grpc", Map.of("merge", "nohost")).build());

        try (Registry registry = open("ttl=5s")) {
            List<ServiceInstance> found = registry.getService(service);

            ServiceInstance go = ServiceInstance.builder().name(service).id("3f1c-uuid").version("v1.0.0")
                    .metadata("weight", "0").metadata("region", "ap-guangzhou")
                    .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build();
            assertThat(found).extracting(ServiceInstance::id).containsExactly("3f1c-uuid", "other", "pid-8");
            ServiceInstance first = found.get(0);
            assertThat(first.version()).isEqualTo(go.version());
            assertThat(first.metadata()).isEqualTo(go.metadata());
            assertThat(Set.copyOf(first.endpoints())).isEqualTo(Set.copyOf(go.endpoints()));
            assertThat(found.get(1).endpoints()).extracting(Object::toString).containsExactly("grpc://10.0.0.6:9000");
            assertThat(found.get(2).version()).isEqualTo("v 2");
            assertThat(found.get(2).endpoints()).extracting(Object::toString).containsExactly("grpc://10.0.0.8:9000");
            assertThat(found.get(2).metadata()).containsEntry("kind", "grpc");
            assertThat(registry.services()).contains(service);
        }
    }

    @Test
    void instancesWrittenByGoKratosContribRegistryPolarisAreReadThroughTheOption() throws InterruptedException {
        String name = TestInstances.serviceName("hello");
        // Kratos's contrib/registry/polaris: service <name><scheme>, scheme and version in metadata, no protocol.
        polaris.put(goInstance(name + "grpc", "10.0.1.5", 9000, "", Map.of("kind", "grpc", "version", "v3",
                "app", "shop")).setId(StringValue.of("polaris-id-1")).build());
        polaris.put(goInstance(name + "http", "10.0.1.5", 8000, "", Map.of("kind", "http", "version", "v3"))
                .setId(StringValue.of("polaris-id-2")).build());
        try (Registry plain = open("ttl=5s"); Registry both = open("ttl=5s&registrySchemes=grpc,http")) {
            assertThat(plain.getService(name)).isEmpty();
            List<ServiceInstance> found = both.getService(name);
            assertThat(found).hasSize(2);
            assertThat(found.get(0)).isEqualTo(ServiceInstance.builder().name(name).id("polaris-id-1")
                    .version("v1.0.0").metadata("app", "shop").endpoint("grpc://10.0.1.5:9000").buildLenient());
            assertThat(found.get(1).endpoints()).extracting(Object::toString).containsExactly("http://10.0.1.5:8000");

            // A Java instance registered under the plain name joins them in one watch.
            ServiceInstance java = TestInstances.of(name, "java");
            try (Watcher watcher = both.watch(name)) {
                assertThat(watcher.next(BOUND)).hasValueSatisfying(l -> assertThat(l).hasSize(2));
                plain.register(java);
                await().atMost(BOUND).until(() -> watcher.next(BOUND).orElseThrow().contains(java));
            }
        }
    }

    private static ServiceProto.Instance.Builder goInstance(String service, String host, int port, String protocol,
                                                            Map<String, String> metadata) {
        ServiceProto.Instance.Builder b = ServiceProto.Instance.newBuilder()
                .setNamespace(StringValue.of("wire")).setService(StringValue.of(service))
                .setHost(StringValue.of(host)).setPort(UInt32Value.of(port))
                .setVersion(StringValue.of("v1.0.0")).setWeight(UInt32Value.of(0))
                .setHealthy(BoolValue.of(true)).setIsolate(BoolValue.of(false)).putAllMetadata(metadata);
        if (!protocol.isEmpty()) {
            b.setProtocol(StringValue.of(protocol));
        }
        return b;
    }

    @Test
    void aGivenSdkContextIsUsedAndLeftOpen() {
        ConfigurationImpl config = new ConfigurationImpl();
        config.setDefault();
        config.getGlobal().getServerConnector().setAddresses(List.of(polaris.address()));
        config.getConsumer().getLocalCache().setPersistEnable(false);
        config.getGlobal().getStatReporter().setEnable(false);
        SDKContext context = SDKContext.initContextByConfig(config);
        try {
            String service = TestInstances.serviceName("given");
            ServiceInstance instance = TestInstances.of(service, "g");
            try (Registry registry = PolarisRegistry.builder().context(context).namespace("wire").build()) {
                registry.register(instance);
                assertThat(registry.getService(service)).containsExactly(instance);
            }
            assertThat(polaris.instances("wire", service)).isEmpty();
            // Still usable: another registry on the same context works.
            try (Registry again = PolarisRegistry.builder().context(context).namespace("wire").build()) {
                again.register(instance);
                assertThat(again.getService(service)).containsExactly(instance);
            }
        } finally {
            context.destroy();
        }
    }

    @Test
    void servicesListsOnlyServicesWithAHealthyInstance() {
        String live = TestInstances.serviceName("live");
        String sick = TestInstances.serviceName("sick");
        polaris.put(goInstance(live, "10.0.2.1", 9000, "grpc", Map.of()).build());
        polaris.put(goInstance(sick, "10.0.2.2", 9000, "grpc", Map.of()).setHealthy(BoolValue.of(false)).build());
        try (Registry registry = open("ttl=5s")) {
            await().atMost(BOUND).untilAsserted(() -> assertThat(registry.services()).contains(live)
                    .doesNotContain(sick));
            assertThat(registry.services().stream().filter(s -> s.startsWith("polaris.")).collect(Collectors.toList()))
                    .as("the Polaris namespace's own services are not this namespace's").isEmpty();
        }
    }
}
