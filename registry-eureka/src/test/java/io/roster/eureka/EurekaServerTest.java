package io.roster.eureka;

import com.fasterxml.jackson.databind.JsonNode;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Eureka-specific behaviour against the real server: the records written, records of other clients read,
 * keepalive and recovery, failover between server URLs.
 */
@ExtendWith(SharedEurekaServer.class)
class EurekaServerTest {
    private static final Logger LOG = LoggerFactory.getLogger(EurekaServerTest.class);
    private static final Duration RENEW = Duration.ofSeconds(1);
    private static final Duration REFRESH = Duration.ofMillis(500);
    private static final Duration BOUND = Duration.ofSeconds(10);

    private final List<Registry> opened = new ArrayList<>();
    private EurekaTestServer server;
    private RawEureka raw;

    @BeforeEach
    void setUp() {
        server = SharedEurekaServer.server();
        raw = new RawEureka(server.url());
    }

    @AfterEach
    void tearDown() {
        opened.forEach(Registry::close);
        raw.close();
    }

    private Registry open(String servers, String options) {
        Registry registry = Registries.open("eureka://" + servers + "?renew=" + RENEW.toSeconds() + "s&lease=3s"
                + "&refresh=" + REFRESH.toMillis() + "ms" + options);
        opened.add(registry);
        return registry;
    }

    private Registry open() {
        return open("127.0.0.1:" + server.port() + "/eureka", "");
    }

    @Test
    void eachEurekaInstanceCarriesItsOwnEndpointAndTheKratosKeys() {
        String service = TestInstances.serviceName("layout");
        String app = EurekaInstances.app(service);
        ServiceInstance instance = TestInstances.instance(service, "id-1").metadata("color", "blue").build();

        open().register(instance);

        Map<String, JsonNode> byId = raw.instances(app).stream()
                .collect(Collectors.toMap(n -> n.path("instanceId").asText(), n -> n));
        assertThat(byId).hasSize(2);
        for (URI endpoint : instance.endpoints()) {
            JsonNode node = byId.get("127.0.0.1:" + app + ":" + endpoint.getPort());
            assertThat(node).as("Eureka instance of %s", endpoint).isNotNull();
            assertThat(node.path("metadata").path("Endpoints").asText()).isEqualTo(endpoint.toString());
            assertThat(node.path("metadata").path("ID").asText()).isEqualTo("id-1");
            assertThat(node.path("metadata").path("Name").asText()).isEqualTo(service);
            assertThat(node.path("metadata").path("Version").asText()).isEqualTo("v1.0.0");
            assertThat(node.path("metadata").path("color").asText()).isEqualTo("blue");
            assertThat(node.path("hostName").asText()).isEqualTo("127.0.0.1");
            assertThat(node.path("ipAddr").asText()).isEqualTo("127.0.0.1");
            assertThat(node.path("status").asText()).isEqualTo("UP");
            assertThat(node.path("port").path("$").asInt()).isEqualTo(endpoint.getPort());
            assertThat(node.path("leaseInfo").path("durationInSecs").asInt()).isEqualTo(3);
        }
    }

    @Test
    void springInstanceIsDiscoveredAsHttpEndpoints() throws InterruptedException {
        String service = TestInstances.serviceName("spring");
        String app = EurekaInstances.app(service);
        // What Spring Cloud's Eureka client sends (trimmed to the fields it always sets).
        raw.register(app, springInstance("host-a:" + service + ":8080", app, "10.1.0.7", 8080, 8443, false,
                "\"management.port\":\"8081\",\"version\":\"2.4.1\""));
        raw.register(app, springInstance("host-b:" + service + ":8080", app, "10.1.0.8", 8080, 8443, true, ""));
        Registry registry = open();

        List<ServiceInstance> found = registry.getService(service);

        assertThat(found).containsExactly(
                ServiceInstance.builder().name(service).id("host-a:" + service + ":8080").version("2.4.1")
                        .metadata("management.port", "8081").metadata("version", "2.4.1")
                        .endpoint("http://10.1.0.7:8080").build(),
                ServiceInstance.builder().name(service).id("host-b:" + service + ":8080")
                        .endpoint("http://10.1.0.8:8080").endpoint("https://10.1.0.8:8443").build());
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(found);
        }
    }

    @Test
    void kratosRecordsAreRegroupedIntoOneInstance() {
        String service = TestInstances.serviceName("kratos");
        String app = EurekaInstances.app(service);
        for (String endpoint : List.of("grpc://10.2.0.9:9000", "http://10.2.0.9:8000")) {
            String port = endpoint.substring(endpoint.lastIndexOf(':') + 1);
            raw.register(app, "{\"instance\":{\"instanceId\":\"10.2.0.9:" + app + ":" + port + "\",\"hostName\":\""
                    + app + "\",\"port\":{\"$\":" + port + ",\"@enabled\":\"true\"},\"app\":\"" + app
                    + "\",\"ipAddr\":\"10.2.0.9\",\"vipAddress\":\"" + app + "\",\"status\":\"UP\","
                    + "\"securePort\":{\"$\":443,\"@enabled\":\"false\"},\"homePageUrl\":\"" + endpoint + "/\","
                    + "\"statusPageUrl\":\"" + endpoint + "/info\",\"healthCheckUrl\":\"" + endpoint + "/health\","
                    + "\"dataCenterInfo\":{\"name\":\"MyOwn\",\"@class\":"
                    + "\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"},\"metadata\":{\"Endpoints\":\""
                    + endpoint + "\",\"ID\":\"go-1\",\"Name\":\"" + service + "\",\"Version\":\"v3.0.0\","
                    + "\"agent\":\"go-eureka-client\",\"zone\":\"z1\"}}}");
        }

        assertThat(open().getService(service)).containsExactly(ServiceInstance.builder().name(service).id("go-1")
                .version("v3.0.0").metadata("zone", "z1")
                .endpoint("grpc://10.2.0.9:9000").endpoint("http://10.2.0.9:8000").build());
    }

    @Test
    void lostInstanceIsRegisteredAgainAndDeregisterRemovesEveryEndpoint() throws InterruptedException {
        String service = TestInstances.serviceName("lost");
        String app = EurekaInstances.app(service);
        ServiceInstance instance = TestInstances.of(service, "lost-1");
        Registry registry = open();
        registry.register(instance);
        List<JsonNode> before = raw.instances(app);
        assertThat(before).hasSize(2);
        long registered = before.stream().mapToLong(EurekaServerTest::registrationTime).max().orElseThrow();

        // Gone behind the registry's back, as after an eviction.
        before.forEach(n -> assertThat(raw.delete(app, n.path("instanceId").asText())).isEqualTo(200));

        // The next renewal gets 404 and registers both again at once.
        await().atMost(RENEW.plusSeconds(5)).until(() -> {
            List<JsonNode> now = raw.instances(app);
            return now.size() == 2 && now.stream().allMatch(n -> registrationTime(n) > registered);
        });
        assertThat(registry.getService(service)).containsExactly(instance);

        try (Watcher watcher = open().watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("lost-1"));
            registry.deregister(instance);
            assertThat(raw.instances(app)).as("every endpoint's Eureka instance is gone").isEmpty();
            Watching.awaitIds(watcher, BOUND, Set.of());
            // Renewals stopped with the deregistration: nothing brings the instance back.
            assertThat(watcher.next(RENEW.multipliedBy(3))).isEmpty();
        }
        assertThat(raw.instances(app)).isEmpty();
    }

    @Test
    void updateThatDropsAnEndpointRemovesItsEurekaInstance() {
        String service = TestInstances.serviceName("update");
        String app = EurekaInstances.app(service);
        ServiceInstance both = TestInstances.of(service, "u-1");
        ServiceInstance grpcOnly = both.toBuilder().endpoints(List.of(both.endpoints().get(0))).build();
        Registry registry = open();
        registry.register(both);
        assertThat(raw.instances(app)).hasSize(2);

        registry.register(grpcOnly);

        assertThat(raw.instances(app)).extracting(n -> n.path("metadata").path("Endpoints").asText())
                .containsExactly(both.endpoints().get(0).toString());
        assertThat(registry.getService(service)).containsExactly(grpcOnly);
    }

    @Test
    void instancesThatAreNotUpAreListedOnlyWhenAsked() {
        String service = TestInstances.serviceName("status");
        String app = EurekaInstances.app(service);
        ServiceInstance instance = TestInstances.of(service, "s-1");
        Registry registry = open();
        registry.register(instance);
        URI http = instance.endpoints().get(1);

        assertThat(raw.status(app, EurekaInstances.instanceId(app, http), "OUT_OF_SERVICE")).isEqualTo(200);

        assertThat(registry.getService(service)).containsExactly(
                instance.toBuilder().endpoints(List.of(instance.endpoints().get(0))).build());
        Registry any = open("127.0.0.1:" + server.port() + "/eureka", "&status=any");
        assertThat(any.getService(service)).containsExactly(instance);
    }

    @Test
    void secondServerIsUsedWhenTheFirstIsDown() throws InterruptedException {
        int dead = FreePorts.next();
        Registry registry = open("127.0.0.1:" + dead + "/eureka,127.0.0.1:" + server.port() + "/eureka", "");
        String service = TestInstances.serviceName("failover");
        ServiceInstance instance = TestInstances.of(service, "f-1");

        registry.register(instance);

        assertThat(raw.instances(EurekaInstances.app(service))).hasSize(2);
        assertThat(registry.getService(service)).containsExactly(instance);
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(instance));
        }
    }

    @Test
    void noServerAnsweringFailsClearly() {
        int dead = FreePorts.next();
        Registry registry = open("127.0.0.1:" + dead + "/eureka", "");
        String service = TestInstances.serviceName("down");

        assertThatThrownBy(() -> registry.register(TestInstances.of(service, "d-1")))
                .isInstanceOf(RegistryUnavailableException.class)
                .hasMessageContaining("http://127.0.0.1:" + dead + "/eureka");
        assertThatThrownBy(() -> registry.getService(service)).isInstanceOf(RegistryUnavailableException.class);
    }

    /**
     * The server restarts with an empty registry: the instance is registered again within one renewal interval
     * (plus 5 s), watchers keep their list during the outage and follow the new server afterwards.
     */
    @Test
    void serverRestartWithEmptyRegistry() throws InterruptedException {
        String service = TestInstances.serviceName("restart");
        String app = EurekaInstances.app(service);
        ServiceInstance x = TestInstances.of(service, "x");
        Registry registrar = open();
        Registry observer = open();
        registrar.register(x);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("x"));

            server.stop();
            assertThat(watcher.next(REFRESH.multipliedBy(3))).as("a push during the outage").isEmpty();
            assertThat(observer.getService(service)).as("the watched list while down").containsExactly(x);
            assertThatThrownBy(() -> observer.getService(service + "-unwatched"))
                    .isInstanceOf(RegistryUnavailableException.class);

            server.start();
            long started = System.nanoTime();
            await().atMost(RENEW.plusSeconds(5)).until(() -> raw.instances(app).size() == 2);
            LOG.info("instance back {} ms after the server restarted", (System.nanoTime() - started) / 1_000_000);

            ServiceInstance y = TestInstances.of(service, "y");
            registrar.register(y);
            Watching.awaitIds(watcher, BOUND, Set.of("x", "y"));
            assertThat(observer.getService(service)).containsExactly(x, y);
        }
    }

    /**
     * What Go Kratos writes, through the real server: a name starting with '_', a version with a space, an empty
     * metadata key, an endpoint with a path. Getting, watching and listing all keep it as written.
     */
    @Test
    void kratosRecordsWithLooseFieldsAreReadAsWritten() throws InterruptedException {
        String service = TestInstances.serviceName("_private") + ".svc";
        String app = EurekaInstances.app(service);
        for (String endpoint : List.of("grpc://10.3.0.9:9000", "http://10.3.0.9:8000/api")) {
            String port = endpoint.replaceAll(".*:(\\d+).*", "$1");
            raw.register(app, "{\"instance\":{\"instanceId\":\"10.3.0.9:" + app + ":" + port + "\",\"hostName\":\""
                    + app + "\",\"port\":{\"$\":" + port + ",\"@enabled\":\"true\"},\"app\":\"" + app
                    + "\",\"ipAddr\":\"10.3.0.9\",\"vipAddress\":\"" + app + "\",\"status\":\"UP\","
                    + "\"dataCenterInfo\":{\"name\":\"MyOwn\",\"@class\":"
                    + "\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"},\"metadata\":{\"\":\"empty key\","
                    + "\"Endpoints\":\"" + endpoint + "\",\"ID\":\"go-2\",\"Name\":\"" + service + "\","
                    + "\"Version\":\"v1.0 beta\",\"agent\":\"go-eureka-client\"}}}");
        }
        ServiceInstance expected = ServiceInstance.builder().name(service).id("go-2").version("v1.0 beta")
                .metadata("", "empty key").endpoint("grpc://10.3.0.9:9000").endpoint("http://10.3.0.9:8000/api")
                .buildLenient();
        Registry registry = open();

        assertThat(registry.getService(service)).containsExactly(expected);
        try (Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(expected));
        }
        assertThat(registry.services()).contains(service);
        raw.instances(app).forEach(n -> raw.delete(app, n.path("instanceId").asText()));
    }

    @Test
    void servicesAreNamedAsRosterDiscoversThem() {
        String kratos = "Mixed-" + TestInstances.serviceName("Case");
        String spring = TestInstances.serviceName("spring-listed");
        String down = TestInstances.serviceName("all-down");
        Registry registry = open();
        registry.register(TestInstances.of(kratos, "k-1"));
        String springApp = EurekaInstances.app(spring);
        raw.register(springApp, springInstance("host-s:" + spring + ":8080", springApp, "10.1.0.9", 8080, 8443, false,
                ""));
        ServiceInstance hidden = TestInstances.of(down, "d-1");
        registry.register(hidden);
        String downApp = EurekaInstances.app(down);
        raw.instances(downApp).forEach(n -> raw.status(downApp, n.path("instanceId").asText(), "OUT_OF_SERVICE"));

        assertThat(registry.services()).as("the Kratos Name, the lower-cased Spring app, no instance UP")
                .contains(kratos, spring).doesNotContain(down, down.toUpperCase(java.util.Locale.ROOT));
        assertThat(open("127.0.0.1:" + server.port() + "/eureka", "&status=any").services()).contains(down);

        registry.deregister(TestInstances.of(kratos, "k-1"));
        raw.delete(springApp, "host-s:" + spring + ":8080");
        assertThat(registry.services()).doesNotContain(kratos, spring);
    }

    /**
     * A watch reads the registry once, then its recent changes ({@code GET apps/delta}); the delta's hash code
     * agrees with what it read, so it does not fall back to reading everything or each application.
     */
    @Test
    void watchesFollowTheServerThroughDeltas() throws Exception {
        try (BlackHoleProxy proxy = new BlackHoleProxy(server.port())) {
            Registry registry = open("127.0.0.1:" + proxy.port() + "/eureka", "");
            String service = TestInstances.serviceName("deltas");
            try (Watcher watcher = registry.watch(service)) {
                assertThat(watcher.next(BOUND)).contains(List.of());
                for (String id : List.of("d-1", "d-2", "d-3")) {
                    registry.register(TestInstances.of(service, id));
                    Watching.awaitIds(watcher, BOUND, Set.of("d-1", "d-2", "d-3").stream()
                            .filter(i -> i.compareTo(id) <= 0).collect(Collectors.toSet()));
                }
                registry.deregister(TestInstances.of(service, "d-2"));
                Watching.awaitIds(watcher, BOUND, Set.of("d-1", "d-3"));
            }
            List<String> reads = proxy.requests().stream().filter(r -> r.startsWith("GET ")).toList();
            LOG.info("watch reads: {}", reads.stream().collect(Collectors.groupingBy(r -> r, Collectors.counting())));
            assertThat(reads).filteredOn(r -> r.endsWith("/apps/delta")).hasSizeGreaterThanOrEqualTo(4);
            // One full read to start; a read racing a registration may see a delta and a hash code of different
            // moments once in a while (Eureka's response cache), which costs one more.
            assertThat(reads).filteredOn(r -> r.endsWith("/eureka/apps")).hasSizeBetween(1, 3);
            assertThat(reads).filteredOn(r -> r.endsWith("/apps/" + EurekaInstances.app(service))).isEmpty();
        }
    }

    private static long registrationTime(JsonNode instance) {
        return instance.path("leaseInfo").path("registrationTimestamp").asLong();
    }

    private static String springInstance(String instanceId, String app, String ip, int port, int securePort,
                                         boolean secureEnabled, String metadata) {
        return "{\"instance\":{\"instanceId\":\"" + instanceId + "\",\"hostName\":\"" + ip + "\",\"app\":\"" + app
                + "\",\"ipAddr\":\"" + ip + "\",\"status\":\"UP\",\"overriddenStatus\":\"UNKNOWN\","
                + "\"port\":{\"$\":" + port + ",\"@enabled\":\"true\"},\"securePort\":{\"$\":" + securePort
                + ",\"@enabled\":\"" + secureEnabled + "\"},\"countryId\":1,\"dataCenterInfo\":{\"@class\":"
                + "\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\",\"name\":\"MyOwn\"},\"leaseInfo\":"
                + "{\"renewalIntervalInSecs\":30,\"durationInSecs\":90},\"metadata\":{" + metadata + "},"
                + "\"homePageUrl\":\"http://" + ip + ":" + port + "/\",\"statusPageUrl\":\"http://" + ip + ":" + port
                + "/actuator/info\",\"healthCheckUrl\":\"http://" + ip + ":" + port + "/actuator/health\","
                + "\"vipAddress\":\"" + app.toLowerCase(java.util.Locale.ROOT) + "\",\"secureVipAddress\":\""
                + app.toLowerCase(java.util.Locale.ROOT) + "\",\"isCoordinatingDiscoveryServer\":\"false\"}}";
    }
}
