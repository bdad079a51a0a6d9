package io.roster.etcd;

import io.roster.testkit.EtcdServer;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A real 3-member etcd cluster on loopback: losing or freezing the member a registry talks to. */
class EtcdClusterTest {
    private static final Duration TTL = Duration.ofSeconds(2);
    private static final Duration RECOVERY_BOUND = TTL.plusSeconds(5);
    private static final String OPTIONS = "/cluster?ttl=2s&timeout=3s";
    private static final String RENEWALS = "grpc_server_msg_received_total{grpc_method=\"LeaseKeepAlive\"";
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
    void aMemberTheRegistryRenewsThroughDies() throws Exception {
        String service = TestInstances.serviceName("failover");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdTests.registry(members, OPTIONS);
             Registry observer = EtcdTests.registry(members, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));
            EtcdServer renewing = renewingMember(members);
            List<EtcdServer> survivors = new ArrayList<>(members);
            survivors.remove(renewing);
            long lease = registry.leaseId();

            renewing.kill();

            // Renewals go on through the survivors, the lease lives on, and every view has the instance.
            renewingMember(survivors);
            assertThat(registry.leaseId()).isEqualTo(lease);
            assertThat(registry.recovering()).isFalse();
            try (Client plain = EtcdTests.client(survivors.get(0))) {
                assertThat(ttl(plain, lease)).as("the lease lives on").isPositive();
            }
            try (Registry fresh = EtcdTests.registry(survivors, OPTIONS);
                 Watcher current = observer.watch(service)) {
                assertThat(fresh.getService(service)).containsExactly(instance);
                Watching.awaitList(current, RECOVERY_BOUND, "the instance", l -> l.equals(List.of(instance)));
            }
            registry.register(TestInstances.of(service, "b"));
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b"));
        }
    }

    @Test
    void aFrozenMemberNeverMakesTheInstanceVanish() throws Exception {
        String service = TestInstances.serviceName("frozen-member");
        ServiceInstance instance = TestInstances.of(service, "a");
        // Followers only: freezing the leader would make the new leader extend every lease, hiding the problem.
        EtcdServer leader = members.stream().filter(m -> m.metric("etcd_server_is_leader") == 1).findFirst()
                .orElseThrow();
        List<EtcdServer> followers = new ArrayList<>(members);
        followers.remove(leader);
        Duration ttl = Duration.ofSeconds(5);
        try (EtcdRegistry registry = EtcdTests.registry(followers, "/cluster?ttl=5s");
             Registry observer = EtcdTests.registry(List.of(leader), "/cluster?ttl=5s");
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));
            long lease = registry.leaseId();
            EtcdServer frozen = renewingMember(followers);

            frozen.pause();
            List<List<ServiceInstance>> seen = new ArrayList<>();
            long until = System.nanoTime() + ttl.multipliedBy(3).toNanos();
            for (long left = until - System.nanoTime(); left > 0; left = until - System.nanoTime()) {
                watcher.next(Duration.ofNanos(left)).ifPresent(seen::add);
            }
            frozen.resume();

            assertThat(seen).as("lists the watcher saw while a member the registry renewed through was frozen")
                    .allSatisfy(list -> assertThat(list).contains(instance));
            assertThat(registry.leaseId()).as("the lease never expired").isEqualTo(lease);
            assertThat(observer.getService(service)).containsExactly(instance);
        }
    }

    @Test
    void aWatcherCutOffDuringChangesAndCompactionResyncsWithoutAnEmptyList() throws Exception {
        String service = TestInstances.serviceName("compacted");
        // The watcher talks to a follower only; losing it costs the cluster no election.
        EtcdServer alone = members.stream().filter(m -> m.metric("etcd_server_is_leader") == 0).findFirst().orElseThrow();
        List<EtcdServer> others = new ArrayList<>(members);
        others.remove(alone);
        try (Registry registry = EtcdTests.registry(others, OPTIONS);
             Registry observer = EtcdTests.registry(List.of(alone), OPTIONS);
             Watcher watcher = observer.watch(service);
             Client plain = EtcdTests.client(others.get(0))) {
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

    /**
     * Waits for a member among the candidates to receive a lease renewal (its gRPC counter of LeaseKeepAlive
     * messages grows) and returns it.
     */
    private static EtcdServer renewingMember(List<EtcdServer> candidates) {
        Map<EtcdServer, Long> before = new HashMap<>();
        candidates.forEach(m -> before.put(m, m.metric(RENEWALS)));
        return await().atMost(RECOVERY_BOUND).until(() -> candidates.stream()
                .filter(m -> m.metric(RENEWALS) > before.get(m)).findFirst(), Optional::isPresent).get();
    }

    private static long ttl(Client plain, long lease) throws Exception {
        return plain.getLeaseClient().timeToLive(lease, io.etcd.jetcd.options.LeaseOption.DEFAULT)
                .get(10, TimeUnit.SECONDS).getTTL();
    }
}
