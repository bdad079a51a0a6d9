package io.roster.etcd;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.LeaseOption;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Costs that must not grow with the number of instances, counted by the etcd server itself: leases held (etcd's
 * lease list) and range reads a watcher makes (etcd's gRPC counters). Its own server, so no other test's requests
 * are counted.
 */
class EtcdScaleTest {
    private static final Duration BOUND = Duration.ofSeconds(30);
    private static final String RANGES = "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Range\"";
    private static EtcdServer etcd;

    @BeforeAll
    static void start() {
        etcd = EtcdServer.start();
    }

    @AfterAll
    static void stop() {
        etcd.close();
    }

    @Test
    void aThousandInstancesShareOneLease() throws Exception {
        String service = TestInstances.serviceName("thousand");
        Set<Long> before = etcd.leases();
        try (EtcdRegistry registry = etcd.registry("?ttl=10s"); Client plain = etcd.client()) {
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
        try (Registry registry = etcd.registry("?ttl=10s"); Registry observer = etcd.registry("?ttl=10s")) {
            for (int i = 0; i < 5000; i++) {
                registry.register(TestInstances.of(service, "i-" + i));
            }
            try (Watcher watcher = observer.watch(service)) {
                assertThat(watcher.next(BOUND).orElseThrow()).hasSize(5000);
                long ranges = etcd.metric(RANGES);

                ServiceInstance added = TestInstances.of(service, "added");
                registry.register(added);
                Watching.awaitList(watcher, BOUND, "5001 instances", l -> l.size() == 5001 && l.contains(added));
                registry.deregister(added);
                Watching.awaitList(watcher, BOUND, "5000 instances", l -> l.size() == 5000 && !l.contains(added));

                assertThat(etcd.metric(RANGES) - ranges).as("range requests while following two changes").isZero();
                // The counter does count reads: one getService is one range request.
                assertThat(observer.getService(service)).hasSize(5000);
                assertThat(etcd.metric(RANGES) - ranges).isEqualTo(1);
            }
        }
    }
}
