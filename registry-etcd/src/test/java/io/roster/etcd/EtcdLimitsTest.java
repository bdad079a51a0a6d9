package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.PutOption;
import io.roster.InvalidInstanceException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * etcd's limits, on a real single member: its ping policy (no ping on a connection without calls), its request
 * size limit ({@code --max-request-bytes}, 1.5 MiB by default), and a client's inbound message limit.
 */
class EtcdLimitsTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    /** grpc-java pings after 10 s without a read, its minimum: a client that pinged without calls would by now. */
    private static final Duration IDLE = Duration.ofSeconds(12);
    private static final String NAMESPACE = "/limits";
    private static final int ETCD_LIMIT = 1536 * 1024;
    private static final String REFUSED_TXNS =
            "grpc_server_handled_total{grpc_code=\"InvalidArgument\",grpc_method=\"Txn\"";
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

    /**
     * etcd 3.4 allows no keepalive ping on a connection without streams (grpc-go's policy: one per 2 h unless
     * permit-without-stream, which etcd does not set) and answers the third with GOAWAY {@code too_many_pings}; a
     * client pinging every 10 s without calls is cut off after about 30 s. No server flag shortens that window, so
     * the test watches the cause on the wire instead: over 12 s idle, the read-only client sends no ping at all, so
     * no policy window can count one; a client with an open watch, through the same kind of proxy, does ping (how a
     * dead connection is noticed), and neither is sent a GOAWAY nor reconnects.
     */
    @Test
    void anIdleClientThatOnlyReadsSendsNoPingsAndIsNeverCutOff() throws Exception {
        String service = TestInstances.serviceName("idle");
        try (Http2Proxy reading = new Http2Proxy(etcd.clientPort());
             Http2Proxy watching = new Http2Proxy(etcd.clientPort());
             Registry reader = Registries.open("etcd://" + reading.endpoint() + NAMESPACE);
             Registry follower = Registries.open("etcd://" + watching.endpoint() + NAMESPACE);
             Watcher watcher = follower.watch(service)) {
            assertThat(reader.getService(service)).isEmpty();
            assertThat(watcher.next(BOUND)).contains(List.of());

            await().during(IDLE).atMost(IDLE.plusSeconds(5)).until(() -> reading.keepalivePings() == 0);
            await().atMost(BOUND).until(() -> watching.keepalivePings() > 0);

            assertThat(reader.getService(service)).isEmpty();
            assertThat(reading.goaways() + watching.goaways()).as("GOAWAY frames from etcd").isZero();
            assertThat(reading.connections()).as("connections of the reader").isEqualTo(1);
            assertThat(watching.connections()).as("connections of the watcher").isEqualTo(1);
        }
    }

    @Test
    void anInstanceOverEtcdsRequestLimitIsRefusedBeforeAnythingIsSent() throws Exception {
        String service = TestInstances.serviceName("huge");
        ServiceInstance huge = TestInstances.instance(service, "huge").metadata("blob", "x".repeat(2 << 20)).build();
        Set<Long> leases = etcd.leases();
        try (Registry registry = EtcdTests.registry(etcd, NAMESPACE + "?ttl=5s")) {
            assertThatThrownBy(() -> registry.register(huge)).isInstanceOfSatisfying(InvalidInstanceException.class,
                    e -> {
                        assertThat(e.field()).isEqualTo("metadata");
                        assertThat(e.getMessage()).contains(Integer.toString(ETCD_LIMIT)).contains("maxRequestBytes");
                    });
            assertThat(registry.getService(service)).isEmpty();
            assertThat(etcd.leases()).as("leases (none granted for it)").isEqualTo(leases);

            // Right at the limit etcd takes it: the margin kept for the request's own fields is enough.
            ServiceInstance largest = ofRequestSize(service, "largest", ETCD_LIMIT);
            registry.register(largest);
            assertThat(registry.getService(service)).containsExactly(largest);
            assertThatThrownBy(() -> registry.register(ofRequestSize(service, "largest", ETCD_LIMIT + 1)))
                    .isInstanceOf(InvalidInstanceException.class);
        }
    }

    @Test
    void aRequestEtcdRefusesAsTooLargeIsReportedAsSuch() {
        String service = TestInstances.serviceName("refused");
        ServiceInstance big = TestInstances.instance(service, "big").metadata("blob", "x".repeat(2 << 20)).build();
        // The option promises more than this etcd takes.
        try (Registry registry = EtcdTests.registry(etcd, NAMESPACE + "?ttl=5s&maxRequestBytes=4194304");
             Registry observer = EtcdTests.registry(etcd, NAMESPACE)) {
            assertThatThrownBy(() -> registry.register(big)).isInstanceOf(RegistryException.class)
                    .isNotInstanceOf(RegistryUnavailableException.class)
                    .isNotInstanceOf(InvalidInstanceException.class)
                    .hasMessageContaining("too large").hasMessageContaining("--max-request-bytes");
            assertThat(observer.getService(service)).isEmpty();
            assertThat(((EtcdRegistry) registry).recovering()).as("a refusal is certain: nothing to retry").isFalse();
        }
    }

    @Test
    void largeInstancesComeBackAfterALostLeaseInTransactionsEtcdTakes() throws Exception {
        String service = TestInstances.serviceName("large");
        // Each alone fits etcd's limit; the two together do not (1.8 MiB: etcd's "request is too large").
        ServiceInstance a = ofRequestSize(service, "a", ETCD_LIMIT * 6 / 10);
        ServiceInstance b = ofRequestSize(service, "b", ETCD_LIMIT * 6 / 10);
        long refused = etcd.metric(REFUSED_TXNS);
        try (EtcdRegistry registry = EtcdTests.registry(etcd, NAMESPACE + "?ttl=2s&timeout=2s");
             Registry observer = EtcdTests.registry(etcd, NAMESPACE);
             Watcher watcher = observer.watch(service)) {
            registry.register(a);
            registry.register(b);
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));

            plain.getLeaseClient().revoke(registry.leaseId()).get(10, TimeUnit.SECONDS);

            Watching.awaitList(watcher, BOUND, "the keys deleted with the lease", List::isEmpty);
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));
            assertThat(observer.getService(service)).containsExactly(a, b);
            assertThat(etcd.metric(REFUSED_TXNS) - refused).as("transactions etcd refused").isZero();
        }
    }

    @Test
    void answersLargerThanAGivenClientAcceptsAreReadInSmallerPagesOrReportedAsTooLarge() throws Exception {
        String service = TestInstances.serviceName("inbound");
        try (Client small = Client.builder().endpoints(etcd.url()).retryMaxAttempts(0)
                .maxInboundMessageSize(64 * 1024).build();
             Registry registry = EtcdRegistry.builder().client(small).namespace(NAMESPACE).build()) {
            for (int i = 0; i < 10; i++) {
                registry.register(TestInstances.instance(service, "i-" + i).metadata("blob", "x".repeat(20_000))
                        .build());
            }
            assertThat(registry.getService(service)).as("200 kB in pages the client takes").hasSize(10);

            ServiceInstance tooBig = TestInstances.instance(service, "too-big").metadata("blob", "x".repeat(100_000))
                    .build();
            plain.getKVClient().put(EtcdConnection.bytes(NAMESPACE + "/" + service + "/too-big"),
                    EtcdConnection.bytes(InstanceJson.encode(tooBig)), PutOption.DEFAULT).get(10, TimeUnit.SECONDS);
            assertThatThrownBy(() -> registry.getService(service)).isInstanceOf(RegistryException.class)
                    .isNotInstanceOf(RegistryUnavailableException.class)
                    .hasMessageContaining("larger than this client accepts");
            plain.getKVClient().delete(EtcdConnection.bytes(NAMESPACE + "/" + service + "/too-big"))
                    .get(10, TimeUnit.SECONDS);
        }
    }

    /** An instance whose put request, as the registry counts it, is exactly {@code bytes} long. */
    private static ServiceInstance ofRequestSize(String service, String id, int bytes) {
        int key = (NAMESPACE + "/" + service + "/" + id).getBytes(StandardCharsets.UTF_8).length;
        int blob = 0;
        while (true) {
            ServiceInstance instance = TestInstances.instance(service, id).metadata("blob", "x".repeat(blob)).build();
            int size = key + InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8).length + 512;
            if (size == bytes) {
                return instance;
            }
            blob += bytes - size;
        }
    }
}
