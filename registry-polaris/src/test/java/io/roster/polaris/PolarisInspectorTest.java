package io.roster.polaris;

import com.google.protobuf.BoolValue;
import com.google.protobuf.StringValue;
import com.google.protobuf.UInt32Value;
import com.tencent.polaris.specification.api.v1.service.manage.ServiceProto;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
 * {@link PolarisInspector} on instances planted in the SDK's own test server as Go Kratos, Roster and careless
 * clients leave them, each test in a namespace of its own.
 */
class PolarisInspectorTest {
    private static PolarisTestServer polaris;

    @BeforeAll
    static void start() {
        polaris = PolarisTestServer.start();
    }

    @AfterAll
    static void stop() {
        polaris.close();
    }

    private static PolarisRegistry open(String namespace, String options) {
        return (PolarisRegistry) Registries.open("polaris://" + polaris.address() + "?namespace=" + namespace
                + "&ttl=5s" + (options.isEmpty() ? "" : "&" + options));
    }

    private static Inspection inspect(Registry registry, String service) {
        return new PolarisInspector().inspect(registry, RegistryUri.parse(URI.create("polaris://x")), service);
    }

    /** An instance as a client writes it: healthy, weight 100, a heartbeat health check of 5 s, unless changed. */
    private static ServiceProto.Instance.Builder instance(String namespace, String service, String id, int port,
                                                         String protocol, Map<String, String> metadata) {
        ServiceProto.Instance.Builder b = ServiceProto.Instance.newBuilder().setId(StringValue.of(id))
                .setNamespace(StringValue.of(namespace)).setService(StringValue.of(service))
                .setHost(StringValue.of("10.9.0.1")).setPort(UInt32Value.of(port)).setVersion(StringValue.of("v1"))
                .setWeight(UInt32Value.of(100)).setHealthy(BoolValue.of(true)).setIsolate(BoolValue.of(false))
                .setHealthCheck(ServiceProto.HealthCheck.newBuilder()
                        .setType(ServiceProto.HealthCheck.HealthCheckType.HEARTBEAT)
                        .setHeartbeat(ServiceProto.HeartbeatHealthCheck.newBuilder().setTtl(UInt32Value.of(5))))
                .putAllMetadata(metadata);
        if (!protocol.isEmpty()) {
            b.setProtocol(StringValue.of(protocol));
        }
        return b;
    }

    private static Map<String, List<String>> kindsByLocation(Inspection inspection) {
        return inspection.problems().stream().collect(Collectors.groupingBy(Inspection.Problem::location,
                LinkedHashMap::new, Collectors.mapping(p -> p.kind().code(), Collectors.toList())));
    }

    @Test
    void everyPlantedProblemIsNamedWithItsInstance() {
        String ns = "inspect-all";
        String svc = TestInstances.serviceName("greeter");
        String at = ns + "/" + svc + "/";
        // Whole: a Roster instance of two endpoints, and a Kratos one (random merge key, no roster.part).
        polaris.put(instance(ns, svc, "ok-1", 9000, "grpc", Map.of("merge", "ok", "roster.part", "1/2")).build());
        polaris.put(instance(ns, svc, "ok-2", 8000, "http", Map.of("merge", "ok", "roster.part", "2/2")).build());
        polaris.put(instance(ns, svc, "kratos-1", 9001, "grpc", Map.of("merge", "3f1c", "weight", "100")).build());
        // Endpoint 2 of 2 missing; endpoint 1 of 1 twice (two processes with one id); a part that is no k/n.
        polaris.put(instance(ns, svc, "half-1", 9002, "grpc", Map.of("merge", "half", "roster.part", "1/2")).build());
        polaris.put(instance(ns, svc, "twin-a", 9003, "grpc", Map.of("merge", "twin", "roster.part", "1/1")).build());
        polaris.put(instance(ns, svc, "twin-b", 9004, "grpc", Map.of("merge", "twin", "roster.part", "1/1")).build());
        polaris.put(instance(ns, svc, "odd", 9005, "grpc", Map.of("merge", "odd", "roster.part", "3/2")).build());
        // No protocol: with a kind (Roster falls back to it, Go does not), without (nobody can read it).
        polaris.put(instance(ns, svc, "kind-only", 9006, "", Map.of("merge", "k", "kind", "grpc")).build());
        polaris.put(instance(ns, svc, "no-scheme", 9007, "", Map.of("merge", "n")).build());
        // Kratos's starving default weight, and no health check (Kratos registers with TTL 0 by default).
        polaris.put(instance(ns, svc, "starved", 9008, "grpc", Map.of("merge", "s")).setWeight(UInt32Value.of(0))
                .build());
        polaris.put(instance(ns, svc, "immortal", 9009, "grpc", Map.of("merge", "i")).clearHealthCheck().build());
        polaris.put(instance(ns, svc, "sick", 9010, "grpc", Map.of()).setHealthy(BoolValue.of(false)).build());
        polaris.put(instance(ns, svc, "isolated", 9011, "grpc", Map.of()).setIsolate(BoolValue.of(true)).build());

        try (PolarisRegistry registry = open(ns, "")) {
            Inspection inspection = inspect(registry, null);

            assertThat(inspection.raw()).isTrue();
            assertThat(inspection.layout()).contains("namespace " + ns);
            Map<String, List<String>> kinds = kindsByLocation(inspection);
            assertThat(kinds).doesNotContainKeys(at + "ok-1", at + "ok-2", at + "kratos-1")
                    .containsEntry(at + "half-1", List.of("partial-instance"))
                    .containsEntry(at + "twin-b", List.of("duplicate-id"))
                    .containsEntry(at + "odd", List.of("not-decodable"))
                    .containsEntry(at + "kind-only", List.of("bad-endpoint"))
                    .containsEntry(at + "no-scheme", List.of("bad-endpoint"))
                    .containsEntry(at + "starved", List.of("zero-weight"))
                    .containsEntry(at + "immortal", List.of("no-expiry"))
                    .containsEntry(at + "sick", List.of("unhealthy"))
                    .containsEntry(at + "isolated", List.of("unhealthy"));
            assertThat(detail(inspection, at + "half-1")).contains("endpoint(s) [2] of 2 missing");
            assertThat(detail(inspection, at + "twin-b")).contains("also registered at " + at + "twin-a");
            assertThat(detail(inspection, at + "kind-only")).contains("no protocol", "Roster falls back to kind=grpc");
            assertThat(detail(inspection, at + "no-scheme")).contains("readers drop it");
            assertThat(detail(inspection, at + "isolated")).contains("isolated");

            ServiceInstance ok = inspection.records().stream().filter(r -> r.location().equals(at + "ok-2"))
                    .findFirst().orElseThrow().instance().orElseThrow();
            assertThat(ok.id()).isEqualTo("ok");
            assertThat(ok.metadata()).isEmpty();
            assertThat(ok.endpoints()).extracting(Object::toString).containsExactly("http://10.9.0.1:8000");
            assertThat(inspection.records()).filteredOn(r -> r.location().equals(at + "kind-only")).singleElement()
                    .satisfies(r -> assertThat(r.text()).contains("protocol= ", "\"kind\":\"grpc\""));
        }
    }

    private static String detail(Inspection inspection, String location) {
        return inspection.problemsAt(location).get(0).detail();
    }

    @Test
    void whatRosterRegistersIsCleanAndOneNameReadsItsRegistryLayoutServicesToo() {
        String ns = "inspect-clean";
        String svc = TestInstances.serviceName("clean");
        ServiceInstance instance = ServiceInstance.builder().name(svc).id("c-1").version("v2").metadata("zone", "a")
                .endpoint("grpc://127.0.0.1:9100").endpoint("http://127.0.0.1:9101").build();
        // Kratos's contrib/registry/polaris: service <name><scheme>, the scheme in kind, no protocol.
        polaris.put(instance(ns, svc + "grpc", "reg-1", 9102, "", Map.of("kind", "grpc", "version", "v3")).build());
        polaris.put(instance(ns, TestInstances.serviceName("other"), "o-1", 9103, "", Map.of()).build());
        try (PolarisRegistry registry = open(ns, "registrySchemes=grpc")) {
            registry.register(instance);

            Inspection inspection = inspect(registry, svc);

            assertThat(inspection.isClean()).as("%s", inspection.problems()).isTrue();
            assertThat(inspection.records()).extracting(Inspection.Record::service)
                    .containsExactlyInAnyOrder(svc, svc, svc + "grpc");
            assertThat(inspection.records()).filteredOn(r -> r.service().equals(svc + "grpc")).singleElement()
                    .satisfies(r -> assertThat(r.instance()).hasValueSatisfying(i -> {
                        assertThat(i.id()).isEqualTo("reg-1");
                        assertThat(i.version()).isEqualTo("v1"); // the version field wins, as readers take it
                        assertThat(i.metadata()).isEmpty();
                        assertThat(i.endpoints()).extracting(Object::toString).containsExactly("grpc://10.9.0.1:9102");
                    }));
            assertThat(inspection.records()).filteredOn(r -> r.service().equals(svc))
                    .allSatisfy(r -> assertThat(r.instance()).hasValueSatisfying(i -> {
                        assertThat(i.id()).isEqualTo("c-1");
                        assertThat(i.version()).isEqualTo("v2");
                        assertThat(i.metadata()).isEqualTo(Map.of("zone", "a"));
                    }));
        }
    }

    @Test
    void anUnreachableServerIsUnavailableWithinTheTimeout() {
        try (Registry registry = PolarisRegistry.builder().address("127.0.0.1:1").timeout(Duration.ofSeconds(1))
                .build()) {
            long start = System.nanoTime();
            assertThatThrownBy(() -> inspect(registry, null)).isInstanceOf(RegistryUnavailableException.class);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(15));
        }
    }

    @Test
    void toolsFindItByScheme() {
        assertThat(ServiceLoader.load(Inspector.class).stream().map(ServiceLoader.Provider::get)
                .filter(i -> i.scheme().equals("polaris")).findFirst()).get()
                .isInstanceOf(PolarisInspector.class)
                .satisfies(i -> assertThat(i.timeoutOption()).contains("timeout"));
        try (Registry mem = Registries.open("mem://polaris-inspector-test")) {
            assertThat(inspect(mem, null).raw()).as("another registry type gets the generic check").isFalse();
        }
    }
}
