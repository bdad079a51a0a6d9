package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.PutOption;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Large services on a real etcd: costs that must not grow with the number of instances, counted by the etcd server
 * itself (leases held, range reads a watcher makes), and services larger than a gRPC message may be by default
 * (4 MiB). Its own server, so no other test's requests are counted.
 */
class EtcdScaleTest {
    private static final Duration BOUND = Duration.ofSeconds(30);
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
    void aThousandInstancesShareOneLease() throws Exception {
        String service = TestInstances.serviceName("thousand");
        Set<Long> before = etcd.leases();
        try (EtcdRegistry registry = EtcdTests.registry(etcd, "?ttl=10s")) {
            for (int i = 0; i < 1000; i++) {
                registry.register(TestInstances.of(service, "i-" + i));
            }

            Set<Long> leases = etcd.leases();
            leases.removeAll(before);
            assertThat(leases).as("leases granted for 1000 instances").containsExactly(registry.leaseId());
            assertThat(plain.getLeaseClient().timeToLive(registry.leaseId(), LeaseOption.builder()
                    .withAttachedKeys().build()).get(10, TimeUnit.SECONDS).getKeys()).hasSize(1000);
        }
        assertThat(etcd.leases()).as("close revokes the lease").isEqualTo(before);
    }

    @Test
    void aWatcherOnFiveThousandInstancesTakesOneChangeWithoutReadingThemAgain() throws Exception {
        String service = TestInstances.serviceName("five-thousand");
        load(service, 5000, 0);
        try (Registry registry = EtcdTests.registry(etcd, "?ttl=10s"); Registry observer = EtcdTests.registry(etcd, "?ttl=10s");
             Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(BOUND).orElseThrow()).hasSize(5000);
            long ranges = etcd.metric(RANGES);

            ServiceInstance added = TestInstances.of(service, "added");
            registry.register(added);
            Watching.awaitList(watcher, BOUND, "5001 instances", l -> l.size() == 5001 && l.contains(added));
            registry.deregister(added);
            Watching.awaitList(watcher, BOUND, "5000 instances", l -> l.size() == 5000 && !l.contains(added));

            assertThat(etcd.metric(RANGES) - ranges).as("range requests while following two changes").isZero();
            // The counter does count reads: one getService is one range request per page.
            assertThat(observer.getService(service)).hasSize(5000);
            assertThat(etcd.metric(RANGES) - ranges).isEqualTo(5000 / EtcdConnection.PAGE);
        }
    }

    /**
     * 5 000 instances of 2 kB: 10 MB, over gRPC's default 4 MiB message limit. A watcher opened before they came
     * follows them, reads them all again when etcd restarts, and goes on; getService reads them fresh (never a
     * watcher's old list in place of an answer); a new watch and services() see them.
     */
    @Test
    void aServiceOverFourMebibytesIsReadWatchedAndFollowedAcrossAnEtcdRestart() throws Exception {
        String service = TestInstances.serviceName("ten-megabytes");
        try (Registry observer = EtcdTests.registry(etcd, "?ttl=10s"); Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(BOUND)).as("the first list").isPresent();
            load(service, 5000, 2000);
            Watching.awaitList(watcher, BOUND, "5000 instances", l -> l.size() == 5000);
            try (Registry fresh = EtcdTests.registry(etcd, "?ttl=10s"); Watcher another = fresh.watch(service)) {
                assertThat(fresh.getService(service)).hasSize(5000);
                assertThat(another.next(BOUND).orElseThrow()).hasSize(5000);
                assertThat(fresh.services()).contains(service);
            }

            etcd.kill();
            etcd.restart();

            try (Registry registry = EtcdTests.registry(etcd, "?ttl=10s")) {
                ServiceInstance added = TestInstances.of(service, "after-restart");
                registry.register(added);
                Watching.awaitList(watcher, BOUND, "5001 instances, the last registered after the restart",
                        l -> l.size() == 5001 && l.contains(added));
                assertThat(observer.getService(service)).hasSize(5001).contains(added);
            }
        }
    }

    /** Puts instances as another program would, fast: transactions of 100 puts on one lease. */
    private static void load(String service, int count, int metadataBytes) throws Exception {
        long lease = plain.getLeaseClient().grant(600).get(10, TimeUnit.SECONDS).getID();
        PutOption onLease = PutOption.builder().withLeaseId(lease).build();
        for (int from = 0; from < count; from += 100) {
            Op[] puts = IntStream.range(from, Math.min(count, from + 100)).mapToObj(i -> {
                ServiceInstance.Builder builder = TestInstances.instance(service, "i-" + i);
                ServiceInstance instance = (metadataBytes == 0 ? builder
                        : builder.metadata("blob", "x".repeat(metadataBytes))).build();
                return Op.put(EtcdConnection.bytes("/microservices/" + service + "/i-" + i),
                        EtcdConnection.bytes(InstanceJson.encode(instance)), onLease);
            }).toArray(Op[]::new);
            plain.getKVClient().txn().Then(puts).commit().get(30, TimeUnit.SECONDS);
        }
    }
}
