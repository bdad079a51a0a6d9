package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.PutOption;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
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
 * Losing the lease or a record on a real etcd, and getting every instance back: etcd frozen longer than the TTL, etcd
 * killed and restarted, the lease revoked behind the registry's back, a record deleted by someone else, a
 * deregistration during an outage. Each ends with the instance discoverable again, and a watcher on another
 * registry showing it, within TTL + 5 s of etcd answering; a record another writer took over is left to it.
 */
class EtcdRecoveryTest {
    private static final Duration TTL = Duration.ofSeconds(2);
    private static final Duration RECOVERY_BOUND = TTL.plusSeconds(5);
    private static final String OPTIONS = "/recovery?ttl=2s&timeout=1s";
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

    @AfterEach
    void etcdRunsAgain() {
        etcd.ensureRunning(); // a failed test must not leave it frozen or dead for the next
    }

    @Test
    void etcdFrozenLongerThanTheTtl() throws Exception {
        String service = TestInstances.serviceName("frozen");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            long before = registry.leaseId();
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));

            etcd.pause();
            long frozenAt = System.nanoTime();
            // The outage must outlast the TTL (so that etcd expires the lease when it wakes), and the registry must
            // have noticed it: its keepalive saw no renewal for a whole TTL.
            await().atMost(Duration.ofSeconds(30)).until(() -> registry.recovering()
                    && System.nanoTime() - frozenAt > TTL.plusSeconds(1).toNanos());
            etcd.resume();

            await().atMost(RECOVERY_BOUND).untilAsserted(() -> {
                assertThat(registry.leaseId()).as("a new lease").isNotEqualTo(before);
                assertThat(leaseOf(key(instance))).isEqualTo(registry.leaseId());
            });
            assertThat(ttl(before)).as("the old lease expired").isLessThanOrEqualTo(0);
            assertDiscoverable(observer, instance);
        }
    }

    @Test
    void etcdKilledAndRestartedOnItsDataDir() throws Exception {
        String service = TestInstances.serviceName("restarted");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));

            etcd.kill();
            await().atMost(Duration.ofSeconds(30)).until(registry::recovering);
            etcd.restart();

            await().atMost(RECOVERY_BOUND).untilAsserted(() -> {
                assertThat(registry.recovering()).isFalse();
                assertThat(leaseOf(key(instance))).isEqualTo(registry.leaseId());
                assertThat(ttl(registry.leaseId())).isPositive();
                // Counters start at zero with the new process: renewals reached it.
                assertThat(etcd.metric("grpc_server_msg_received_total{grpc_method=\"LeaseKeepAlive\""))
                        .isPositive();
            });
            assertDiscoverable(observer, instance);
            // The watcher follows changes after the restart, not only the list it had before.
            registry.register(TestInstances.of(service, "b"));
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b"));
        }
    }

    @Test
    void leaseRevokedBehindTheRegistrysBack() throws Exception {
        String service = TestInstances.serviceName("revoked");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            for (String id : List.of("a", "b", "c")) {
                registry.register(TestInstances.of(service, id));
            }
            long before = registry.leaseId();
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b", "c"));

            plain.getLeaseClient().revoke(before).get(10, TimeUnit.SECONDS);

            Watching.awaitList(watcher, RECOVERY_BOUND, "the keys deleted with the lease", List::isEmpty);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b", "c"));
            assertThat(registry.leaseId()).isNotEqualTo(before);
            assertThat(observer.getService(service)).hasSize(3);
        }
    }

    @Test
    void registerOnAVanishedLeaseGrantsANewOne() throws Exception {
        String service = TestInstances.serviceName("vanished");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS)) {
            registry.register(TestInstances.of(service, "a"));
            long before = registry.leaseId();
            plain.getLeaseClient().revoke(before).get(10, TimeUnit.SECONDS);

            // Whether the keepalive or this put notices first, the call succeeds and nothing is lost.
            registry.register(TestInstances.of(service, "b"));

            await().atMost(RECOVERY_BOUND).untilAsserted(() ->
                    assertThat(Watching.ids(observer.getService(service))).containsExactly("a", "b"));
            assertThat(registry.leaseId()).isNotEqualTo(before);
        }
    }

    @Test
    void deregisterDuringAnOutageIsCompletedAndNeverUndone() throws Exception {
        String service = TestInstances.serviceName("outage");
        ServiceInstance a = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(a);
            registry.register(TestInstances.of(service, "b"));
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a", "b"));

            etcd.pause();
            assertThatThrownBy(() -> registry.deregister(a)).isInstanceOf(RegistryUnavailableException.class)
                    .hasMessageContaining("deregister " + service + "/a");
            etcd.resume();

            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("b"));
            await().atMost(RECOVERY_BOUND).until(() -> !registry.recovering());
            assertThat(Watching.ids(observer.getService(service))).containsExactly("b");
            assertThat(watcher.next(TTL.multipliedBy(2))).as("a comes back").isEmpty();
        }
    }

    @Test
    void aRecordSomeoneElseDeletesIsPutBackWithinTheTtl() throws Exception {
        String service = TestInstances.serviceName("deleted");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            long lease = registry.leaseId();
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of("a"));

            // As `etcdctl del` would, or a Kratos process deregistering a copy of the instance.
            plain.getKVClient().delete(bytes(key(instance))).get(10, TimeUnit.SECONDS);
            Watching.awaitIds(watcher, RECOVERY_BOUND, Set.of());

            // Within the TTL (with headroom for a loaded machine), on the same lease, as it was.
            Watching.awaitList(watcher, TTL.plusSeconds(2), "the instance back", l -> l.equals(List.of(instance)));
            assertThat(leaseOf(key(instance))).isEqualTo(lease);
            assertThat(registry.leaseId()).isEqualTo(lease);
        }
    }

    @Test
    void aRecordAnotherWriterPutUnderOurKeyIsNeitherOverwrittenNorDeleted() throws Exception {
        String service = TestInstances.serviceName("taken-over");
        ServiceInstance ours = TestInstances.of(service, "a");
        ServiceInstance theirs = TestInstances.instance(service, "a").version("v9").build();
        try (EtcdRegistry registry = EtcdTests.registry(etcd, OPTIONS); Registry observer = EtcdTests.registry(etcd, OPTIONS);
             Watcher watcher = observer.watch(service)) {
            registry.register(ours);
            Watching.awaitList(watcher, RECOVERY_BOUND, "ours", l -> l.equals(List.of(ours)));

            // Another process registers the same instance on its own lease (two deployments with one id).
            long other = plain.getLeaseClient().grant(60).get(10, TimeUnit.SECONDS).getID();
            plain.getKVClient().put(bytes(key(ours)), bytes(InstanceJson.encode(theirs)),
                    PutOption.builder().withLeaseId(other).build()).get(10, TimeUnit.SECONDS);
            Watching.awaitList(watcher, RECOVERY_BOUND, "theirs", l -> l.equals(List.of(theirs)));
            assertThat(watcher.next(TTL.multipliedBy(2))).as("the registry does not fight for the key").isEmpty();

            registry.deregister(ours);

            assertThat(watcher.next(TTL)).as("their record stays").isEmpty();
            assertThat(leaseOf(key(ours))).isEqualTo(other);
            plain.getLeaseClient().revoke(other).get(10, TimeUnit.SECONDS);
        }
    }

    /** Discoverable through a new registry, and in the list that the observer's watch follows now. */
    private static void assertDiscoverable(Registry observer, ServiceInstance instance) throws InterruptedException {
        try (Registry fresh = EtcdTests.registry(etcd, OPTIONS)) {
            await().atMost(RECOVERY_BOUND).untilAsserted(() ->
                    assertThat(fresh.getService(instance.name())).containsExactly(instance));
        }
        // A second watcher shares the observer's watch and starts from its current list.
        try (Watcher current = observer.watch(instance.name())) {
            Watching.awaitList(current, RECOVERY_BOUND, "the instance", list -> list.equals(List.of(instance)));
        }
    }

    private static String key(ServiceInstance instance) {
        return "/recovery/" + instance.name() + "/" + instance.id();
    }

    private static ByteSequence bytes(String text) {
        return ByteSequence.from(text, StandardCharsets.UTF_8);
    }

    private static long leaseOf(String key) throws Exception {
        List<KeyValue> kvs = plain.getKVClient().get(bytes(key))
                .get(10, TimeUnit.SECONDS).getKvs();
        return kvs.isEmpty() ? 0 : kvs.get(0).getLease();
    }

    private static long ttl(long lease) throws Exception {
        return plain.getLeaseClient().timeToLive(lease, LeaseOption.DEFAULT).get(10, TimeUnit.SECONDS).getTTL();
    }
}
