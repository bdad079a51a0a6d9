package io.roster.etcd;

import io.etcd.jetcd.Client;
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
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A real 3-member etcd cluster on loopback: losing the member a registry talks to. */
class EtcdClusterTest {
    private static final Duration TTL = Duration.ofSeconds(2);
    private static final Duration RECOVERY_BOUND = TTL.plusSeconds(5);
    private static final String OPTIONS = "/cluster?ttl=2s&timeout=1s";
    private static final String KEEPALIVE = "{grpc_method=\"LeaseKeepAlive\"";
    private static List<EtcdServer> members;

    @BeforeAll
    static void start() {
        members = EtcdServer.cluster(3, false);
    }

    @AfterAll
    static void stop() {
        members.forEach(EtcdServer::close);
    }

    @AfterEach
    void allMembersRun() {
        members.forEach(EtcdServer::ensureRunning);
    }

    @Test
    void theMemberHoldingTheKeepaliveDies() throws Exception {
        String service = TestInstances.serviceName("failover");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdServer.registry(members, OPTIONS);
             Registry observer = EtcdServer.registry(members, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));
            EtcdServer connected = await().atMost(RECOVERY_BOUND).until(EtcdClusterTest::keepaliveMember,
                    Optional::isPresent).get();
            List<EtcdServer> survivors = new ArrayList<>(members);
            survivors.remove(connected);
            long lease = registry.leaseId();

            connected.kill();

            // Renewals move to a surviving member, the lease lives on, and every view has the instance.
            await().atMost(RECOVERY_BOUND).untilAsserted(() -> {
                assertThat(keepaliveMember()).as("member holding the keepalive stream").isPresent()
                        .get().isNotSameAs(connected);
                assertThat(registry.recovering()).isFalse();
            });
            assertThat(registry.leaseId()).isEqualTo(lease);
            EtcdServer renewing = keepaliveMember().orElseThrow();
            long received = renewing.metric("grpc_server_msg_received_total" + KEEPALIVE);
            await().atMost(RECOVERY_BOUND).until(() -> renewing.metric("grpc_server_msg_received_total" + KEEPALIVE),
                    n -> n > received);
            try (Client plain = survivors.get(0).client()) {
                assertThat(ttl(plain, lease)).as("the lease lives on").isPositive();
            }
            try (Registry fresh = EtcdServer.registry(survivors, OPTIONS);
                 Watcher current = observer.watch(service)) {
                assertThat(fresh.getService(service)).containsExactly(instance);
                Watching.awaitList(current, RECOVERY_BOUND, "the instance", l -> l.equals(List.of(instance)));
            }
            registry.register(TestInstances.of(service, "b"));
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b"));
        }
    }

    @Test
    void aWatcherCutOffDuringChangesAndCompactionResyncsWithoutAnEmptyList() throws Exception {
        String service = TestInstances.serviceName("compacted");
        // The watcher talks to a follower only; losing it costs the cluster no election.
        EtcdServer alone = members.stream().filter(m -> m.metric("etcd_server_is_leader") == 0).findFirst().orElseThrow();
        List<EtcdServer> others = new ArrayList<>(members);
        others.remove(alone);
        try (Registry registry = EtcdServer.registry(others, OPTIONS);
             Registry observer = EtcdServer.registry(List.of(alone), OPTIONS);
             Watcher watcher = observer.watch(service);
             Client plain = others.get(0).client()) {
            registry.register(TestInstances.of(service, "a"));
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));

            alone.kill();
            registry.register(TestInstances.of(service, "b"));
            registry.deregister(TestInstances.of(service, "a"));
            long revision = plain.getKVClient().get(EtcdConnection.bytes("/")).get(10, TimeUnit.SECONDS)
                    .getHeader().getRevision();
            plain.getKVClient().compact(revision).get(10, TimeUnit.SECONDS);
            alone.restart();

            List<Set<String>> seen = new ArrayList<>();
            Watching.awaitList(watcher, Duration.ofSeconds(15), "only b", list -> {
                seen.add(Watching.ids(list));
                return Watching.ids(list).equals(Set.of("b"));
            });
            assertThat(seen).as("lists seen after the outage").doesNotContain(Set.of()).last().isEqualTo(Set.of("b"));
        }
    }

    /** The member with an open LeaseKeepAlive stream, read from each member's gRPC counters. */
    private static Optional<EtcdServer> keepaliveMember() {
        return members.stream()
                .filter(m -> m.metric("grpc_server_started_total" + KEEPALIVE)
                        > m.metric("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"LeaseKeepAlive\"")
                        + m.metric("grpc_server_handled_total{grpc_code=\"Canceled\",grpc_method=\"LeaseKeepAlive\"")
                        + m.metric("grpc_server_handled_total{grpc_code=\"Unavailable\",grpc_method=\"LeaseKeepAlive\""))
                .findFirst();
    }

    private static long ttl(Client plain, long lease) throws Exception {
        return plain.getLeaseClient().timeToLive(lease, io.etcd.jetcd.options.LeaseOption.DEFAULT)
                .get(10, TimeUnit.SECONDS).getTTL();
    }
}
