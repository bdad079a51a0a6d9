package io.roster.nacos;

import com.alibaba.nacos.api.naming.pojo.Instance;
import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The layout both ways, without a server: parts, merge rules, Kratos-written instances. */
class NacosLayoutTest {
    private final NacosLayout layout = new NacosLayout("DEFAULT", 100, List.of("grpc", "grpcs", "http", "https"));
    private final ServiceInstance v1 = ServiceInstance.builder().name("greeter").id("i-1").version("v1")
            .metadata("zone", "a").endpoint("http://10.0.0.5:8000").endpoint("grpc://10.0.0.5:9000").build();

    /** What the server returns for the given parts, per target of "greeter". */
    private Map<NacosLayout.Target, List<Instance>> served(List<NacosLayout.Part> parts) {
        Map<NacosLayout.Target, List<Instance>> lists = new LinkedHashMap<>();
        for (NacosLayout.Target target : layout.targets("greeter")) {
            List<Instance> list = new ArrayList<>();
            parts.stream().filter(p -> p.service().equals(target.service())).forEach(p -> list.add(p.instance()));
            lists.put(target, list);
        }
        return lists;
    }

    @Test
    void partsFollowKratosWithThePositionInTheRosterKey() {
        List<NacosLayout.Part> parts = layout.parts(v1);
        assertThat(parts).extracting(NacosLayout.Part::service).containsExactly("greeter.http", "greeter.grpc");
        Instance http = parts.get(0).instance();
        assertThat(http.getIp()).isEqualTo("10.0.0.5");
        assertThat(http.getPort()).isEqualTo(8000);
        assertThat(http.getWeight()).isEqualTo(100.0);
        assertThat(http.getClusterName()).isEqualTo("DEFAULT");
        assertThat(http.getMetadata()).containsExactlyInAnyOrderEntriesOf(Map.of("zone", "a", "kind", "http",
                "version", "v1", "roster.instance", "i-1#1/2", "roster.schemes", "http,grpc"));
        assertThat(parts.get(1).instance().getMetadata()).containsEntry("roster.instance", "i-1#2/2")
                .containsEntry("roster.schemes", "http,grpc");
    }

    @Test
    void weightComesFromMetadataAsKratosParsesIt() {
        for (Map.Entry<String, Double> e : Map.of("80", 80.0, "2.5", 2.5, "1e2", 100.0, "abc", 100.0, "", 100.0,
                "NaN", 100.0, " 7", 100.0).entrySet()) {
            ServiceInstance instance = v1.toBuilder().metadata("weight", e.getKey()).build();
            assertThat(layout.parts(instance).get(0).instance().getWeight()).as(e.getKey()).isEqualTo(e.getValue());
        }
    }

    @Test
    void mergeRestoresTheInstanceWithEndpointsInOrder() {
        assertThat(layout.merge("greeter", served(layout.parts(v1)), Map.of())).containsExactly(v1);
    }

    @Test
    void halfAnInstanceIsHiddenUntilComplete() {
        List<NacosLayout.Part> parts = layout.parts(v1);
        assertThat(layout.merge("greeter", served(parts.subList(0, 1)), Map.of())).isEmpty();
        assertThat(layout.merge("greeter", served(parts.subList(1, 2)), Map.of())).isEmpty();
    }

    @Test
    void watchersKeepTheLastCompleteFormWhileAnUpdateOrRemovalIsUnderWay() {
        ServiceInstance v2 = v1.toBuilder().metadata("zone", "b").build();
        ServiceInstance v3 = v1.toBuilder().endpoint("https://10.0.0.5:443").build();
        List<NacosLayout.Part> old = layout.parts(v1);
        Map<String, ServiceInstance> previous = Map.of("i-1", v1);

        List<NacosLayout.Part> mixed = List.of(layout.parts(v2).get(0), old.get(1));
        assertThat(layout.merge("greeter", served(mixed), previous)).containsExactly(v1);
        assertThat(layout.merge("greeter", served(mixed), Map.of())).as("one-shot read").containsExactly(
                v2.toBuilder().metadata("zone", "b").build());
        List<NacosLayout.Part> growing = List.of(layout.parts(v3).get(0), old.get(1));
        assertThat(layout.merge("greeter", served(growing), previous)).containsExactly(v1);
        assertThat(layout.merge("greeter", served(layout.parts(v3)), previous)).containsExactly(v3);
        assertThat(layout.merge("greeter", served(old.subList(0, 1)), previous)).as("removal under way")
                .containsExactly(v1);
        assertThat(layout.merge("greeter", served(List.of()), previous)).isEmpty();
    }

    @Test
    void anEndpointInASchemeTheReaderDoesNotReadNeitherHidesTheInstanceNorShows() {
        ServiceInstance withTcp = ServiceInstance.builder().name("greeter").id("i-2").version("v1")
                .endpoint("grpc://10.0.0.6:9000").endpoint("tcp://10.0.0.6:9100").build();
        List<NacosLayout.Part> tcpParts = layout.parts(withTcp);
        assertThat(tcpParts).extracting(NacosLayout.Part::service).containsExactly("greeter.grpc", "greeter.tcp");
        // Default schemes: the reader never reads greeter.tcp, so it sees the grpc part only.
        assertThat(layout.merge("greeter", served(tcpParts), Map.of())).containsExactly(
                withTcp.toBuilder().endpoints(List.of(withTcp.endpoints().get(0))).build());

        // A consumer of grpc only, reading an instance that also serves http.
        NacosLayout grpcOnly = new NacosLayout("DEFAULT", 100, List.of("grpc"));
        Map<NacosLayout.Target, List<Instance>> lists = new LinkedHashMap<>();
        lists.put(grpcOnly.targets("greeter").get(0), List.of(layout.parts(v1).get(1).instance()));
        assertThat(grpcOnly.merge("greeter", lists, Map.of())).containsExactly(
                v1.toBuilder().endpoints(List.of(v1.endpoints().get(1))).build());
        // The layout does not depend on the reader: the writer wrote the same parts for both.
        assertThat(layout.parts(v1)).extracting(p -> p.instance().getMetadata())
                .isEqualTo(grpcOnly.parts(v1).stream().map(p -> p.instance().getMetadata()).toList());

        // Still whole only when every part the reader can see is there: the http part alone is not enough.
        assertThat(layout.merge("greeter", served(layout.parts(v1).subList(0, 1)), Map.of())).isEmpty();
    }

    @Test
    void partsWrittenWithoutTheirSchemesAreAllExpected() {
        // An earlier Roster wrote no roster.schemes: every part counts, as before.
        List<NacosLayout.Part> parts = layout.parts(v1);
        parts.forEach(p -> p.instance().getMetadata().remove(NacosLayout.SCHEMES_KEY));
        assertThat(layout.merge("greeter", served(parts), Map.of())).containsExactly(v1);
        assertThat(layout.merge("greeter", served(parts.subList(1, 2)), Map.of())).isEmpty();
    }

    @Test
    void recordsAreReadLeniently() {
        Instance go = new Instance();
        go.setInstanceId("go-1");
        go.setIp("10.0.0.9");
        go.setPort(9000);
        Map<String, String> metadata = new HashMap<>();
        metadata.put("version", "v1.0 beta");
        metadata.put("", "empty key");
        metadata.put("kind", "GRPC");
        metadata.put("nil", null);
        go.setMetadata(metadata);
        Instance noPort = new Instance();
        noPort.setInstanceId("broken");
        noPort.setIp("10.0.0.10");
        noPort.setPort(0);
        Instance noIp = new Instance();
        noIp.setInstanceId("no-ip");
        noIp.setPort(9000);
        NacosLayout.Target grpc = layout.targets("_private.svc").get(0);

        for (int read = 0; read < 3; read++) { // logged once, skipped every time
            assertThat(layout.merge("_private.svc", Map.of(grpc, List.of(noPort, go, noIp)), Map.of()))
                    .containsExactly(ServiceInstance.builder().name("_private.svc").id("go-1").version("v1.0 beta")
                            .metadata("", "empty key").metadata("nil", "").endpoint("grpc://10.0.0.9:9000")
                            .buildLenient());
        }
    }

    @Test
    void directNameReturnsThatServiceAsItIs() {
        List<NacosLayout.Part> parts = layout.parts(v1);
        Map<NacosLayout.Target, List<Instance>> grpc = Map.of(layout.targets("greeter.grpc").get(0),
                List.of(parts.get(1).instance()));
        assertThat(layout.merge("greeter.grpc", grpc, Map.of())).containsExactly(ServiceInstance.builder()
                .name("greeter.grpc").id("i-1").version("v1").metadata("zone", "a")
                .endpoint("grpc://10.0.0.5:9000").build());
    }

    @Test
    void foreignInstancesAppearOneEachWithTheIdGoComputes() {
        Instance go = new Instance();
        go.setIp("fd00::7");
        go.setPort(9000);
        go.setClusterName("DEFAULT");
        go.setServiceName("DEFAULT_GROUP@@greeter.grpc");
        go.setMetadata(new HashMap<>(Map.of("version", "v3", "region", "x")));
        Instance javaPlain = new Instance();
        javaPlain.setInstanceId("custom-id");
        javaPlain.setIp("10.0.0.8");
        javaPlain.setPort(8080);
        javaPlain.setMetadata(new HashMap<>(Map.of("kind", "https", "roster.instance", "garbage")));
        NacosLayout.Target grpc = layout.targets("greeter").get(0);
        NacosLayout.Target http = layout.targets("greeter").get(2);

        List<ServiceInstance> merged = layout.merge("greeter", Map.of(grpc, List.of(go), http, List.of(javaPlain)),
                Map.of());

        assertThat(merged).containsExactlyInAnyOrder(
                ServiceInstance.builder().name("greeter").id("fd00::7#9000#DEFAULT#DEFAULT_GROUP@@greeter.grpc")
                        .version("v3").metadata("region", "x").endpoint("grpc://[fd00::7]:9000").build(),
                ServiceInstance.builder().name("greeter").id("custom-id").metadata("roster.instance", "garbage")
                        .endpoint("https://10.0.0.8:8080").build());
    }

    @Test
    void nacosRulesAreCheckedBeforeWriting() {
        assertThatThrownBy(() -> layout.check(v1.toBuilder().metadata("kind", "x").build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("metadata[kind]");
        assertThatThrownBy(() -> layout.check(v1.toBuilder().name("greeter.grpc").build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("must not end with '.grpc'");
        assertThatThrownBy(() -> layout.check(v1.toBuilder().endpoints(List.of()).build()))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("endpoints");
        assertThatThrownBy(() -> layout.check(v1.toBuilder().metadata("preserved.heart.beat.interval", "60000")
                .build())).isInstanceOf(InvalidInstanceException.class).hasMessageContaining("nacos-client");
        assertThatThrownBy(() -> NacosLayout.checkName("\u670d\u52a1")).isInstanceOf(InvalidInstanceException.class);
        layout.check(v1);
    }
}
