package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.PutOption;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Golden tests against Kratos's etcd layout (key {@code <ns>/<name>/<id>}, compact instance JSON on a lease),
 * checked with a plain jetcd client as a Go service would see it.
 */
class EtcdWireFormatTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final String RANGES = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"";
    private static EtcdServer etcd;
    private static Client plain;

    @BeforeAll
    static void start() {
        etcd = EtcdServer.start();
        plain = EtcdTests.client(etcd);
    }

    @AfterAll
    static void stop() {
        plain.close();
        etcd.close();
    }

    @Test
    void registeredInstanceIsByteForByteWhatKratosWrites() throws Exception {
        ServiceInstance instance = ServiceInstance.builder()
                .id("7b1e2c4a-0f3d-11ef-9a3b-0242ac120002")
                .name("helloworld")
                .version("v1.0.0")
                .metadata("region", "sh")
                .endpoint("grpc://10.0.0.5:9000")
                .endpoint("http://10.0.0.5:8000")
                .build();
        // Kratos (encoding/json of registry.ServiceInstance) writes exactly these bytes for that instance.
        String kratos = "{\"id\":\"7b1e2c4a-0f3d-11ef-9a3b-0242ac120002\",\"name\":\"helloworld\",\"version\":\"v1.0.0\","
                + "\"metadata\":{\"region\":\"sh\"},\"endpoints\":[\"grpc://10.0.0.5:9000\",\"http://10.0.0.5:8000\"]}";
        ServiceInstance escaped = ServiceInstance.builder().id("go-escapes").name("helloworld")
                .metadata("q", "a<b>&c\u2028").build();
        String kratosEscaped = "{\"id\":\"go-escapes\",\"name\":\"helloworld\",\"version\":\"\","
                + "\"metadata\":{\"q\":\"a\\u003cb\\u003e\\u0026c\\u2028\"},\"endpoints\":null}";

        try (EtcdRegistry registry = EtcdTests.registry(etcd, "")) {
            registry.register(instance);
            registry.register(escaped);

            List<KeyValue> kvs = plain.getKVClient().get(bytes("/microservices/helloworld"),
                    GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS).getKvs();
            assertThat(kvs).hasSize(2);
            KeyValue kv = kvs.stream().filter(k -> k.getKey().toString(StandardCharsets.UTF_8).endsWith("/" + instance.id()))
                    .findFirst().orElseThrow();
            assertThat(kv.getKey().getBytes())
                    .isEqualTo("/microservices/helloworld/7b1e2c4a-0f3d-11ef-9a3b-0242ac120002".getBytes(StandardCharsets.UTF_8));
            assertThat(kv.getValue().getBytes()).isEqualTo(kratos.getBytes(StandardCharsets.UTF_8))
                    .isEqualTo(InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8));
            KeyValue other = kvs.stream().filter(k -> k != kv).findFirst().orElseThrow();
            assertThat(other.getKey().toString(StandardCharsets.UTF_8)).isEqualTo("/microservices/helloworld/go-escapes");
            assertThat(other.getValue().getBytes()).isEqualTo(kratosEscaped.getBytes(StandardCharsets.UTF_8));

            // Both hang on the registry's one lease, with Kratos's default TTL.
            assertThat(kv.getLease()).isEqualTo(registry.leaseId()).isNotZero();
            assertThat(other.getLease()).isEqualTo(registry.leaseId());
            assertThat(plain.getLeaseClient().timeToLive(kv.getLease(), LeaseOption.DEFAULT)
                    .get(10, TimeUnit.SECONDS).getGrantedTTL()).isEqualTo(15);
        }
        assertThat(plain.getKVClient().get(bytes("/microservices/helloworld"), GetOption.builder().isPrefix(true).build())
                .get(10, TimeUnit.SECONDS).getKvs()).as("close deletes the keys").isEmpty();
    }

    @Test
    void recordsWrittenByKratosAreDiscoveredAndForeignOrBrokenOnesSkipped() throws Exception {
        // As a Go service on Kratos writes them: its own lease, its own JSON (legacy ?isSecure query, null metadata).
        long lease = plain.getLeaseClient().grant(30).get(10, TimeUnit.SECONDS).getID();
        String go = "{\"id\":\"go-1\",\"name\":\"greeter\",\"version\":\"v2.0.0\",\"metadata\":null,"
                + "\"endpoints\":[\"grpc://10.0.0.9:9000?isSecure=false\",\"http://10.0.0.9:8000\"]}";
        // Read leniently: the endpoint is kept as written, query included (Kratos ignores it too).
        ServiceInstance expected = ServiceInstance.builder().id("go-1").name("greeter").version("v2.0.0")
                .endpoint("grpc://10.0.0.9:9000?isSecure=false").endpoint("http://10.0.0.9:8000").buildLenient();
        try (Registry registry = EtcdTests.registry(etcd, "/microservices?ttl=5s");
             Watcher watcher = registry.watch("greeter")) {
            assertThat(watcher.next(BOUND)).contains(List.of());

            put("/microservices/greeter/go-1", go, lease);
            put("/microservices/greeter/broken", "{not json", 0);
            put("/microservices/greeter/impostor", go.replace("\"name\":\"greeter\"", "\"name\":\"greeter-admin\""), 0);
            put("/microservices/greeter-admin/go-2", go.replace("greeter", "greeter-admin"), 0);

            Watching.awaitIds(watcher, BOUND, Set.of("go-1"));
            assertThat(registry.getService("greeter")).containsExactly(expected);
            assertThat(registry.getService("greeter-admin")).extracting(ServiceInstance::id).containsExactly("go-1");
            assertThat(watcher.next(Duration.ofMillis(500))).as("no change from skipped records").isEmpty();

            plain.getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS); // the Go service stops
            Watching.awaitIds(watcher, BOUND, Set.of());
            assertThat(registry.getService("greeter")).isEmpty();
        }
        // Read by the watch and three times by getService, the broken record was logged once.
        String log = Files.readString(Path.of("target/etcd-tests.log"), StandardCharsets.UTF_8);
        assertThat(log.lines().filter(line -> line.contains("etcd key /microservices/greeter/broken")))
                .as("log lines about the broken record").hasSize(1);
    }

    @Test
    void servicesAreNamedByTheirKeysSkippingBrokenKeysAndTheRestOfABigService() throws Exception {
        String json = "{\"id\":\"1\",\"name\":\"x\",\"version\":\"\",\"metadata\":null,\"endpoints\":null}";
        long lease = plain.getLeaseClient().grant(60).get(10, TimeUnit.SECONDS).getID();
        PutOption onLease = PutOption.builder().withLeaseId(lease).build();
        for (int from = 0; from < 2500; from += 100) {
            Op[] puts = IntStream.range(from, from + 100)
                    .mapToObj(i -> Op.put(bytes("/listed/alpha/i-" + i), bytes(json), onLease)).toArray(Op[]::new);
            plain.getKVClient().txn().Then(puts).commit().get(10, TimeUnit.SECONDS);
        }
        put("/listed/_private.svc/1", json, lease);   // Kratos may register names Roster would not write
        put("/listed/beta/1", "{not json", lease);     // a key names its service, whatever its value
        put("/listed//empty-name", json, lease);       // the seed's check-registry case
        put("/listed/no-id", json, lease);
        put("/listed/gamma/", json, lease);
        put("/listed-too/delta/1", json, lease);       // another namespace that shares the prefix
        try (Registry registry = EtcdTests.registry(etcd, "/listed")) {
            long ranges = etcd.metric(RANGES);
            assertThat(registry.services()).containsExactly("_private.svc", "alpha", "beta");
            assertThat(etcd.metric(RANGES) - ranges).as("range requests: the rest of alpha is skipped, not read")
                    .isLessThanOrEqualTo(2);
        } finally {
            plain.getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aClientGivenByTheCallerIsLeftOpen() throws Exception {
        ServiceInstance instance = ServiceInstance.builder().id("given").name("given-client").build();
        EtcdRegistry registry = EtcdRegistry.builder().client(plain).namespace("/given").build();
        registry.register(instance);
        assertThat(registry.getService("given-client")).containsExactly(instance);

        registry.close();

        assertThat(plain.getKVClient().get(bytes("/given/given-client/given")).get(10, TimeUnit.SECONDS).getKvs())
                .as("deregistered on close, through the still open client").isEmpty();
    }

    private static void put(String key, String value, long lease) throws Exception {
        plain.getKVClient().put(bytes(key), bytes(value),
                io.etcd.jetcd.options.PutOption.builder().withLeaseId(lease).build()).get(10, TimeUnit.SECONDS);
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }
}
