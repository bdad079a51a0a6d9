package io.roster.spi;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The checks every layout shares, the generic check, and the mem inspector. */
class InspectionTest {

    private static String json(String id, String name, String endpoints) {
        return "{\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"version\":\"v1\",\"metadata\":null,"
                + "\"endpoints\":" + endpoints + "}";
    }

    private static List<String> problems(Inspection inspection) {
        List<String> list = new ArrayList<>();
        inspection.problems().forEach(p -> list.add(p.location() + " " + p.kind().code()));
        return list;
    }

    @Test
    void decodeNamesEveryProblemOfAKratosRecord() {
        Inspection.Builder b = Inspection.builder("keys");
        assertThat(b.decode("/ns/a/1", "a", "1", json("1", "a", "[\"grpc://10.0.0.1:9000\"]"))).isPresent();
        assertThat(b.decode("/ns/a/2", "a", "2", "{not json")).isEmpty();
        b.decode("/ns/a/3", "a", "3", json("3", "b", "[\"grpc://10.0.0.3:9000\"]"));
        b.decode("/ns/a/4", "a", "x", json("4", "a", "[\"grpc://10.0.0.4:9000\"]"));
        b.decode("/ns/a/5", "a", "5", json("5", "a", "[\"grpc://10.0.0.5\",\"http://10.0.0.5:80\"]"));
        b.decode("/ns/a/6", "a", "6", json("6", "a", "[\"10.0.0.6:9000\"]"));
        b.decode("/ns/a/7", "a", "7", json("1", "a", "[\"grpc://10.0.0.7:9000\"]"));
        b.decode("/ns/b/8", null, null, json("8", "whatever", "null"));
        Inspection inspection = b.build();

        assertThat(problems(inspection)).containsExactly(
                "/ns/a/2 not-decodable",
                "/ns/a/3 name-mismatch",
                "/ns/a/4 id-mismatch",
                "/ns/a/5 bad-endpoint",
                "/ns/a/6 bad-endpoint",
                "/ns/a/6 no-endpoint",
                "/ns/a/7 duplicate-id",
                "/ns/a/7 id-mismatch",
                "/ns/b/8 no-endpoint");
        assertThat(inspection.records()).hasSize(8);
        assertThat(inspection.records().get(1).instance()).isEmpty();
        assertThat(inspection.records().get(1).service()).isEqualTo("a");
        assertThat(inspection.records().get(4).instance().get().endpoints())
                .containsExactly(URI.create("http://10.0.0.5:80"));
        assertThat(inspection.problems().get(3).detail()).contains("\"grpc://10.0.0.5\"");
        assertThat(inspection.problems().get(6).detail()).contains("/ns/a/1");
        assertThat(inspection.problemsAt("/ns/a/6")).hasSize(2);
        assertThat(inspection.isClean()).isFalse();
    }

    @Test
    void serviceNamesInLocationsAreChecked() {
        Inspection.Builder b = Inspection.builder("keys");
        assertThat(b.serviceName("/ns//x", "")).isFalse();
        assertThat(b.serviceName("/ns/ /x", " ")).isFalse();
        assertThat(b.serviceName("/ns/a@@b/x", "a@@b")).isFalse();
        assertThat(b.serviceName("/ns/a\u0001/x", "a\u0001")).isFalse();
        assertThat(b.serviceName("/ns/_private.svc/x", "_private.svc")).isTrue();
        Inspection inspection = b.build();

        assertThat(problems(inspection)).containsExactly("/ns//x empty-service-name", "/ns/ /x empty-service-name",
                "/ns/a@@b/x malformed-service-name", "/ns/a\u0001/x malformed-service-name");
        assertThat(inspection.problems().get(3).detail()).contains("a\\u0001").doesNotContain("\u0001");
    }

    @Test
    void secretsInRecordsStayOutOfTheDetails() {
        Inspection.Builder b = Inspection.builder("keys");
        b.decode("/ns/a/1", "a", "1", json("1", "a", "[\"grpc://user:s3cret@10.0.0.1\"]"));
        assertThat(b.build().problems()).allSatisfy(p -> assertThat(p.detail()).doesNotContain("s3cret"));
    }

    @Test
    void theGenericCheckReadsTheDiscoveryApi() {
        try (Registry registry = Registries.open("mem://inspection-generic")) {
            registry.register(ServiceInstance.builder().name("a").id("1").endpoint("grpc://10.0.0.1:9000").build());
            registry.register(ServiceInstance.builder().name("a").id("2").build());
            registry.register(ServiceInstance.builder().name("b").id("1").endpoint("grpc://10.0.0.2:9000").build());
            List<String> progress = new ArrayList<>();

            Inspection inspection = Inspection.generic(registry, null, "because", (done, total) ->
                    progress.add(done + "/" + total));

            assertThat(inspection.raw()).isFalse();
            assertThat(inspection.note()).hasValue("no raw reader: because; records the backend skips as malformed "
                    + "are not seen");
            assertThat(inspection.records()).extracting(Inspection.Record::location).containsExactly("a/1", "a/2",
                    "b/1");
            assertThat(problems(inspection)).containsExactly("a/2 no-endpoint");
            assertThat(progress).containsExactly("1/2", "2/2");
            assertThat(Inspection.generic(registry, "b", "", (d, t) -> { }).records()).hasSize(1);
        }
    }

    @Test
    void theMemInspectorReadsItsStore() {
        try (Registry registry = Registries.open("mem://inspection-mem")) {
            registry.register(ServiceInstance.builder().name("b").id("1").endpoint("grpc://10.0.0.2:9000").build());
            registry.register(ServiceInstance.builder().name("a").id("2").build());
            Inspection inspection = new io.roster.memory.MemoryInspector().inspect(registry,
                    RegistryUri.parse(URI.create("mem://inspection-mem")), null);
            assertThat(inspection.raw()).isTrue();
            assertThat(inspection.records()).extracting(Inspection.Record::location)
                    .containsExactly("mem://inspection-mem/a/2", "mem://inspection-mem/b/1");
            assertThat(problems(inspection)).containsExactly("mem://inspection-mem/a/2 no-endpoint");
        }
    }
}
