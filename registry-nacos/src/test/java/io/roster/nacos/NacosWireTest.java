package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.pojo.Instance;
import io.roster.InvalidInstanceException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What goes on the wire and what comes back: Kratos's layout, Kratos-written instances, options. */
class NacosWireTest {
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static NacosStandIn server;
    private static NamingService plain;
    private final List<Registry> registries = new ArrayList<>();

    @BeforeAll
    static void startServer() throws Exception {
        server = NacosStandIn.start();
        Properties properties = new Properties();
        properties.setProperty(PropertyKeyConst.SERVER_ADDR, server.address());
        plain = NamingFactory.createNamingService(properties);
    }

    @AfterAll
    static void stopServer() throws Exception {
        plain.shutDown();
        server.close();
    }

    @AfterEach
    void closeRegistries() {
        registries.forEach(Registry::close);
    }

    private Registry open(String options) {
        Registry registry = Registries.open("nacos://" + server.address() + options);
        registries.add(registry);
        return registry;
    }

    /** An instance as a plain nacos-client user (or Go Kratos) registers it. */
    private static Instance plainInstance(String ip, int port) {
        Instance instance = new Instance();
        instance.setIp(ip);
        instance.setPort(port);
        return instance;
    }

    /** What Kratos's registrar writes for one endpoint, plus Roster's two keys. */
    private static Map<String, String> kratosMetadata(ServiceInstance instance, String scheme, String key) {
        Map<String, String> metadata = new HashMap<>(instance.metadata());
        metadata.put("kind", scheme);
        metadata.put("version", instance.version());
        metadata.put("roster.instance", key);
        metadata.put("roster.schemes", instance.endpoints().stream().map(java.net.URI::getScheme)
                .collect(java.util.stream.Collectors.joining(",")));
        return metadata;
    }

    @Test
    void goldenRegistrationIsKratosLayoutPlusTwoKeys() throws Exception {
        String service = TestInstances.serviceName("golden");
        ServiceInstance instance = ServiceInstance.builder().name(service).id("i-1").version("v1.2.3")
                .metadata("zone", "eu-1").metadata("weight", "80")
                .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build();
        open("").register(instance);

        for (String scheme : List.of("grpc", "http")) {
            List<Instance> stored = server.instances("public", "DEFAULT_GROUP", service + "." + scheme);
            assertThat(stored).as(scheme).hasSize(1);
            Instance nacos = stored.get(0);
            assertThat(nacos.getIp()).isEqualTo("10.0.0.5");
            assertThat(nacos.getPort()).isEqualTo(scheme.equals("grpc") ? 9000 : 8000);
            assertThat(nacos.getWeight()).isEqualTo(80.0);
            assertThat(nacos.getClusterName()).isEqualTo("DEFAULT");
            assertThat(nacos.isEphemeral()).isTrue();
            assertThat(nacos.isHealthy()).isTrue();
            assertThat(nacos.isEnabled()).isTrue();
            assertThat(nacos.getMetadata()).isEqualTo(kratosMetadata(instance, scheme,
                    "i-1#" + (scheme.equals("grpc") ? "1/2" : "2/2")));
            // The same through a plain nacos-client, as a Go or Java Nacos consumer reads it.
            Instance read = plain.getAllInstances(service + "." + scheme, "DEFAULT_GROUP", false).get(0);
            assertThat(read.getMetadata()).isEqualTo(nacos.getMetadata());
            assertThat(read.getWeight()).isEqualTo(80.0);
            assertThat(read.getServiceName()).isEqualTo("DEFAULT_GROUP@@" + service + "." + scheme);
        }
        assertThat(server.requestTypes()).contains("InstanceRequest");
    }

    @Test
    void defaultWeightGroupAndClusterOptionsAreWritten() {
        String service = TestInstances.serviceName("options");
        ServiceInstance instance = TestInstances.of(service, "a");
        Registry registry = open("?group=ORDERS&cluster=blue-1&weight=42.5");
        registry.register(instance);

        Instance nacos = server.instances("public", "ORDERS", service + ".grpc").get(0);
        assertThat(nacos.getWeight()).isEqualTo(42.5);
        assertThat(nacos.getClusterName()).isEqualTo("blue-1");
        assertThat(registry.getService(service)).containsExactly(instance);
        assertThat(open("").getService(service)).as("another group").isEmpty();
        assertThat(open("?namespace=other&group=ORDERS").getService(service)).as("another namespace").isEmpty();
    }

    @Test
    void kratosRegistrationIsFoundByBareAndDirectName() throws Exception {
        String service = TestInstances.serviceName("kratos");
        Instance go = plainInstance("10.1.2.3", 9000);
        go.setWeight(100);
        go.setClusterName("DEFAULT");
        go.setMetadata(Map.of("kind", "grpc", "version", "v2.0.0", "region", "north"));
        Registry registry = open("");
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of());
            plain.registerInstance(service + ".grpc", "DEFAULT_GROUP", go);

            String id = "10.1.2.3#9000#DEFAULT#DEFAULT_GROUP@@" + service + ".grpc";
            ServiceInstance expected = ServiceInstance.builder().name(service).id(id).version("v2.0.0")
                    .metadata("region", "north").endpoint("grpc://10.1.2.3:9000").build();
            Watching.awaitList(watcher, BOUND, "the Go instance", list -> list.equals(List.of(expected)));
            assertThat(registry.getService(service)).containsExactly(expected);
            assertThat(registry.getService(service + ".grpc"))
                    .containsExactly(expected.toBuilder().name(service + ".grpc").build());

            plain.deregisterInstance(service + ".grpc", "DEFAULT_GROUP", go);
            Watching.awaitIds(watcher, BOUND, Set.of());
        }
        assertThat(server.pushAcks()).as("pushes acknowledged by nacos-client").isPositive();
    }

    @Test
    void directNameReturnsThatServiceOnly() {
        String service = TestInstances.serviceName("direct");
        ServiceInstance instance = TestInstances.of(service, "a");
        Registry registry = open("");
        registry.register(instance);

        assertThat(registry.getService(service + ".http")).containsExactly(ServiceInstance.builder()
                .name(service + ".http").id("a").version(instance.version()).metadata(instance.metadata())
                .endpoint(instance.endpoint("http").orElseThrow()).build());
    }

    @Test
    void oneConnectionKeepsOneEntryPerServiceAndSeveralInstancesGoAsABatch() throws Exception {
        String service = TestInstances.serviceName("per-connection");
        Instance first = plainInstance("10.0.0.1", 1);
        Instance second = plainInstance("10.0.0.2", 2);
        // What the stand-in reproduces from a real server: the second registerInstance replaces the first.
        plain.registerInstance(service + ".grpc", "DEFAULT_GROUP", first);
        plain.registerInstance(service + ".grpc", "DEFAULT_GROUP", second);
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc"))
                .extracting(Instance::getIp).containsExactly("10.0.0.2");
        plain.deregisterInstance(service + ".grpc", "DEFAULT_GROUP", first); // by connection, not by address
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).isEmpty();

        // So a registry sends its instances of one service together.
        Registry registry = open("");
        ServiceInstance a = TestInstances.of(service, "a");
        ServiceInstance b = TestInstances.of(service, "b");
        registry.register(a);
        registry.register(b);
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).hasSize(2);
        assertThat(open("").getService(service)).containsExactly(a, b);
        registry.deregister(a);
        assertThat(open("").getService(service)).containsExactly(b);
        registry.deregister(b);
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).isEmpty();
    }

    @Test
    void deregisterNeedsOnlyTheNameAndId() {
        String service = TestInstances.serviceName("by-id");
        Registry registry = open("");
        registry.register(TestInstances.of(service, "a"));
        registry.deregister(ServiceInstance.builder().name(service).id("a").build());
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc")).isEmpty();
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".http")).isEmpty();
    }

    @Test
    void unhealthyAndDisabledInstancesAreHiddenUnlessAsked() throws Exception {
        String service = TestInstances.serviceName("health");
        Instance sick = plainInstance("10.0.0.7", 7);
        sick.setHealthy(false);
        plain.registerInstance(service + ".grpc", "DEFAULT_GROUP", sick);
        Instance disabled = plainInstance("10.0.0.8", 8);
        disabled.setEnabled(false);
        plain.registerInstance(service + ".http", "DEFAULT_GROUP", disabled);

        assertThat(open("").getService(service)).isEmpty();
        assertThat(open("?healthyOnly=false").getService(service)).extracting(i -> i.endpoints().get(0).toString())
                .containsExactlyInAnyOrder("grpc://10.0.0.7:7", "http://10.0.0.8:8");
        plain.deregisterInstance(service + ".grpc", "DEFAULT_GROUP", sick);
        plain.deregisterInstance(service + ".http", "DEFAULT_GROUP", disabled);
    }

    @Test
    void ipv6EndpointsRoundTrip() {
        String service = TestInstances.serviceName("ipv6");
        ServiceInstance instance = ServiceInstance.builder().name(service).id("v6")
                .endpoint("grpc://[fd00::5]:9000").build();
        Registry registry = open("");
        registry.register(instance);
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".grpc").get(0).getIp())
                .isEqualTo("fd00::5");
        assertThat(registry.getService(service)).containsExactly(instance);
    }

    @Test
    void serverRefusalIsAnInvalidInstanceAndLeavesNothing() {
        String service = TestInstances.serviceName("refused");
        Registry registry = open("");
        ServiceInstance tooBig = TestInstances.instance(service, "big").metadata("blob", "x".repeat(1100)).build();
        assertThatThrownBy(() -> registry.register(tooBig)).isInstanceOf(InvalidInstanceException.class)
                .hasMessageContaining("Metadata");
        assertThat(registry.getService(service)).isEmpty();
        ServiceInstance fine = TestInstances.of(service, "fine");
        registry.register(fine);
        assertThat(registry.getService(service)).containsExactly(fine);
    }

    @Test
    void watchersNeverSeeHalfAnInstance() throws InterruptedException {
        String service = TestInstances.serviceName("flicker");
        ServiceInstance v1 = TestInstances.instance(service, "a").endpoint("https://127.0.0.1:443").build();
        ServiceInstance v2 = v1.toBuilder().metadata("zone", "zone-b").build();
        ServiceInstance v3 = v2.toBuilder().endpoints(v2.endpoints().subList(0, 2)).build();
        Registry registrar = open("");
        List<List<ServiceInstance>> seen = new ArrayList<>();
        try (Watcher watcher = open("").watch(service)) {
            for (ServiceInstance version : List.of(v1, v2, v3)) {
                registrar.register(version);
                seen.addAll(collectUntil(watcher, List.of(version)));
            }
            registrar.deregister(v3);
            seen.addAll(collectUntil(watcher, List.of()));
        }
        // Every list is whole: the instance in one of its registered forms, or absent.
        for (List<ServiceInstance> list : seen) {
            assertThat(List.of(List.of(), List.of(v1), List.of(v2), List.of(v3))).contains(list);
        }
    }

    private static List<List<ServiceInstance>> collectUntil(Watcher watcher, List<ServiceInstance> target)
            throws InterruptedException {
        List<List<ServiceInstance>> lists = new ArrayList<>();
        long deadline = System.nanoTime() + BOUND.toNanos();
        while (System.nanoTime() < deadline) {
            Optional<List<ServiceInstance>> next = watcher.next(Duration.ofMillis(200));
            next.ifPresent(lists::add);
            if (next.isPresent() && next.get().equals(target)) {
                return lists;
            }
        }
        throw new AssertionError("watcher never reached " + target + "; saw " + lists);
    }

    @Test
    void onlyTheConfiguredSchemesMakeUpABareName() {
        String service = TestInstances.serviceName("schemes");
        ServiceInstance ws = ServiceInstance.builder().name(service).id("ws").endpoint("ws://127.0.0.1:7000").build();
        Registry registry = open("");
        registry.register(ws);
        assertThat(server.instances("public", "DEFAULT_GROUP", service + ".ws")).hasSize(1);
        assertThat(registry.getService(service)).as("ws is not a default discovery scheme").isEmpty();
        Registry withWs = open("?schemes=grpc,ws");
        assertThat(withWs.getService(service)).containsExactly(ws);
        assertThat(withWs.getService(service + ".ws")).extracting(ServiceInstance::name)
                .containsExactly(service + ".ws");
    }

    @Test
    void anInstanceStaysVisibleWithTheEndpointsTheReaderReads() {
        String service = TestInstances.serviceName("visible");
        ServiceInstance withTcp = ServiceInstance.builder().name(service).id("tcp").version("v1")
                .endpoint("grpc://127.0.0.1:9000").endpoint("tcp://127.0.0.1:9100").build();
        ServiceInstance withHttp = ServiceInstance.builder().name(service).id("http").version("v1")
                .endpoint("grpc://127.0.0.1:9001").endpoint("http://127.0.0.1:8001").build();
        Registry writer = open("");
        writer.register(withTcp);
        writer.register(withHttp);

        assertThat(open("").getService(service)).containsExactly(
                withHttp, withTcp.toBuilder().endpoints(List.of(withTcp.endpoints().get(0))).build());
        assertThat(open("?schemes=grpc").getService(service)).containsExactly(
                withHttp.toBuilder().endpoints(List.of(withHttp.endpoints().get(0))).build(),
                withTcp.toBuilder().endpoints(List.of(withTcp.endpoints().get(0))).build());
        assertThat(open("?schemes=grpc,tcp,http").getService(service)).containsExactly(withHttp, withTcp);
    }

    @Test
    void kratosAndPlainClientRecordsAreReadAsWritten() throws Exception {
        String service = "_private." + TestInstances.serviceName("svc");
        Instance go = plainInstance("10.1.2.4", 9000);
        go.setClusterName("DEFAULT");
        Map<String, String> metadata = new HashMap<>();
        metadata.put("kind", "grpc");
        metadata.put("version", "v1.0 beta");
        metadata.put("", "empty key");
        go.setMetadata(metadata);
        plain.registerInstance(service + ".grpc", "DEFAULT_GROUP", go);
        try {
            String id = "10.1.2.4#9000#DEFAULT#DEFAULT_GROUP@@" + service + ".grpc";
            ServiceInstance expected = ServiceInstance.builder().name(service).id(id).version("v1.0 beta")
                    .metadata("", "empty key").endpoint("grpc://10.1.2.4:9000").buildLenient();
            Registry registry = open("");
            assertThat(registry.getService(service)).containsExactly(expected);
            try (Watcher watcher = registry.watch(service)) {
                Watching.awaitList(watcher, BOUND, "the record as written", list -> list.equals(List.of(expected)));
            }
            assertThatThrownBy(() -> registry.register(expected)).as("written strictly")
                    .isInstanceOf(InvalidInstanceException.class);
        } finally {
            plain.deregisterInstance(service + ".grpc", "DEFAULT_GROUP", go);
        }
    }
}
