package io.roster.zookeeper;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Keepalive and recovery against a real server: session expiry, server restarts, the stale-owner trap (Dubbo
 * #5125) and deregistration racing with recovery (CURATOR-164). Each case ends with the instance discoverable and
 * shown by a watcher of another registry.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ZooKeeperRecoveryTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(20);

    private ZooKeeperRegistry openWith(String options) {
        return open("/recovery?" + options);
    }

    private ZooKeeperRegistry open() {
        return openWith("sessionTimeout=3s&connectionTimeout=2s");
    }

    private static String path(ServiceInstance instance) {
        return "/recovery/" + instance.name() + "/" + instance.id();
    }

    /** Waits until the node is held by the registry's current session, and returns that session. */
    private static long awaitOwnedBy(ZooKeeperRegistry registry, ServiceInstance instance) {
        long[] owner = new long[1];
        await().atMost(BOUND).ignoreExceptions().until(() -> {
            Stat stat = plain.checkExists().forPath(path(instance));
            owner[0] = Sessions.sessionId(registry);
            return stat != null && stat.getEphemeralOwner() == owner[0];
        });
        return owner[0];
    }

    /** The observer, through getService and through a new watcher, lists exactly these ids. */
    private static void awaitListed(Registry observer, String service, Set<String> ids) throws InterruptedException {
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, ids);
        }
        await().atMost(BOUND).ignoreExceptions()
                .until(() -> Watching.ids(observer.getService(service)).equals(ids));
    }

    private static long owner(String path) throws Exception {
        Stat stat = plain.checkExists().forPath(path);
        return stat == null ? 0 : stat.getEphemeralOwner();
    }

    private static byte[] record(ServiceInstance instance) {
        return InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8);
    }

    private static CountDownLatch latch(ZooKeeperRegistry registry, ConnectionState state) {
        CountDownLatch latch = new CountDownLatch(1);
        registry.curator().getConnectionStateListenable().addListener((c, s) -> {
            if (s == state) {
                latch.countDown();
            }
        });
        return latch;
    }

    @Test
    void a_sessionExpiredOnTheServer_instanceIsRegisteredAgainOnTheNewSession() throws Exception {
        ZooKeeperRegistry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("expired");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("i-1"));
            long before = Sessions.sessionId(registrar);

            Sessions.expireOnServer(registrar, server.getConnectString());

            assertThat(awaitOwnedBy(registrar, instance)).isNotEqualTo(before);
            awaitListed(observer, service, Set.of("i-1"));
            assertThat(observer.getService(service)).containsExactly(instance);
        }
    }

    @Test
    void b_serverRestarted_instanceStaysAndWritesWork() throws Exception {
        ZooKeeperRegistry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("restart");
        registrar.register(TestInstances.of(service, "before"));
        awaitListed(observer, service, Set.of("before"));

        server.restart();

        registrar.register(TestInstances.of(service, "after"));
        awaitListed(observer, service, Set.of("before", "after"));
    }

    @Test
    void b_serverDownLongerThanTheSession_instanceIsRegisteredAgain() throws Exception {
        ZooKeeperRegistry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("outage");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        awaitListed(observer, service, Set.of("i-1"));
        long before = Sessions.sessionId(registrar);
        CountDownLatch lost = latch(registrar, ConnectionState.LOST);

        server.stop();
        assertThat(lost.await(BOUND.toMillis(), TimeUnit.MILLISECONDS)).as("session declared lost").isTrue();
        server.restart();

        assertThat(awaitOwnedBy(registrar, instance)).isNotEqualTo(before);
        awaitListed(observer, service, Set.of("i-1"));
    }

    @Test
    void d_nodeOfOurExpiredSessionStillThere_isReplacedAndSurvivesThatSessionsEnd() throws Exception {
        // A long session, so that the server holds the old one (and its node) well after the client moved on.
        ZooKeeperRegistry registrar = openWith("sessionTimeout=10s&connectionTimeout=2s");
        Registry observer = open();
        String service = TestInstances.serviceName("stale");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        String canary = "/canary-" + UUID.randomUUID();
        registrar.curator().create().withMode(CreateMode.EPHEMERAL).forPath(canary);
        long old = Sessions.sessionId(registrar);

        // The client gives its session up while the server cannot hear of it (as Curator does after a session
        // timeout of silence); the server comes back with the old session and its nodes, and expires it later.
        server.stop();
        Sessions.expireOnClient(registrar);
        server.restart();

        long current = awaitOwnedBy(registrar, instance);
        assertThat(current).isNotEqualTo(old);
        assertThat(plain.checkExists().forPath(canary)).as("the old session is still alive on the server").isNotNull();
        await().atMost(BOUND).until(() -> plain.checkExists().forPath(canary) == null); // old session reaped
        Stat stat = plain.checkExists().forPath(path(instance));
        assertThat(stat).as("our node survived the old session's end").isNotNull();
        assertThat(stat.getEphemeralOwner()).isEqualTo(current);
        awaitListed(observer, service, Set.of("i-1"));
    }

    @Test
    void d_nodeHeldByAnotherSession_isReplacedAndSurvivesThatSessionsEnd() throws Exception {
        ZooKeeperRegistry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("foreign");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        // A previous process with the same id, whose session the server has not expired yet.
        CuratorFramework previous = Sessions.plainClient(server.getConnectString());
        try {
            previous.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(path(instance),
                    ("{\"id\":\"i-1\",\"name\":\"" + service + "\",\"version\":\"v0\"}").getBytes(StandardCharsets.UTF_8));

            registrar.register(instance);

            assertThat(awaitOwnedBy(registrar, instance)).isNotEqualTo(
                    previous.getZookeeperClient().getZooKeeper().getSessionId());
        } finally {
            previous.close(); // its session ends: the server deletes its ephemeral nodes, no longer ours
        }
        assertThat(plain.checkExists().forPath(path(instance)).getEphemeralOwner())
                .isEqualTo(Sessions.sessionId(registrar));
        awaitListed(observer, service, Set.of("i-1"));
        assertThat(observer.getService(service)).containsExactly(instance);
    }

    @Test
    void deregisterDuringAnOutage_nodeIsDeletedOnReconnection() throws Exception {
        ZooKeeperRegistry registrar = openWith("sessionTimeout=10s&connectionTimeout=1s");
        Registry observer = open();
        String service = TestInstances.serviceName("dereg-outage");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        registrar.register(TestInstances.of(service, "i-2"));
        awaitListed(observer, service, Set.of("i-1", "i-2"));
        long session = Sessions.sessionId(registrar);

        server.stop();
        registrar.deregister(instance); // cannot reach the server: postponed, not an error
        server.restart();

        // Well before the 10 s session could expire, the postponed delete ran on the same session.
        await().atMost(Duration.ofSeconds(8)).ignoreExceptions()
                .until(() -> plain.checkExists().forPath(path(instance)) == null);
        assertThat(Sessions.sessionId(registrar)).isEqualTo(session);
        awaitListed(observer, service, Set.of("i-2"));
    }

    @Test
    void deregisterDuringAnOutage_newSessionDoesNotResurrectIt() throws Exception {
        ZooKeeperRegistry registrar = openWith("sessionTimeout=3s&connectionTimeout=1s");
        Registry observer = open();
        String service = TestInstances.serviceName("no-resurrection");
        ServiceInstance gone = TestInstances.of(service, "gone");
        ServiceInstance kept = TestInstances.of(service, "kept");
        registrar.register(gone);
        registrar.register(kept);
        awaitListed(observer, service, Set.of("gone", "kept"));
        long before = Sessions.sessionId(registrar);
        CountDownLatch lost = latch(registrar, ConnectionState.LOST);

        server.stop();
        registrar.deregister(gone);
        assertThat(lost.await(BOUND.toMillis(), TimeUnit.MILLISECONDS)).as("session declared lost").isTrue();
        server.restart();

        // Recovery on the new session writes 'kept' again, and not 'gone' (CURATOR-164), whose old node goes with the
        // old session.
        assertThat(awaitOwnedBy(registrar, kept)).isNotEqualTo(before);
        await().atMost(BOUND).ignoreExceptions().until(() -> plain.checkExists().forPath(path(gone)) == null);
        awaitListed(observer, service, Set.of("kept"));
    }

    @Test
    void nodeDeletedByAnotherClientWhileOurSessionLives_isCreatedAgainOnThatSession() throws Exception {
        ZooKeeperRegistry registrar = open();
        Registry observer = open();
        String service = TestInstances.serviceName("deleted");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        long session = awaitOwnedBy(registrar, instance);

        plain.delete().forPath(path(instance)); // an operator's zkCli delete

        // The session never ended, so no reconnection prompts anything: the deletion itself must.
        await().atMost(Duration.ofSeconds(5)).until(() -> owner(path(instance)) == session);
        assertThat(Sessions.sessionId(registrar)).isEqualTo(session);
        awaitListed(observer, service, Set.of("i-1"));
        assertThat(observer.getService(service)).containsExactly(instance);
    }

    @Test
    void recordOverwrittenByAnotherClient_isWrittenBack() throws Exception {
        ZooKeeperRegistry registrar = open();
        String service = TestInstances.serviceName("overwritten");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        long session = awaitOwnedBy(registrar, instance);

        plain.setData().forPath(path(instance), "{\"id\":\"i-1\"}".getBytes(StandardCharsets.UTF_8));

        await().atMost(Duration.ofSeconds(5)).until(() -> Arrays.equals(plain.getData().forPath(path(instance)),
                record(instance)));
        assertThat(owner(path(instance))).isEqualTo(session);
    }

    @Test
    void nodeTakenOverByAnotherSession_isLeftToIt_andDeregisterDoesNotDeleteIt() throws Exception {
        ZooKeeperRegistry registrar = open();
        String service = TestInstances.serviceName("taken-over");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        awaitOwnedBy(registrar, instance);
        CuratorFramework other = Sessions.plainClient(server.getConnectString());
        try {
            long otherSession = other.getZookeeperClient().getZooKeeper().getSessionId();
            // Another live process registers the same id as Roster and Kratos do: it replaces the node with its own.
            other.transaction().forOperations(other.transactionOp().delete().forPath(path(instance)),
                    other.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(path(instance),
                            record(instance)));

            // No tug of war: the node stays with the session that took it.
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(10))
                    .until(() -> owner(path(instance)) == otherSession);

            registrar.deregister(instance);
            assertThat(owner(path(instance))).as("another session's node is not ours to delete")
                    .isEqualTo(otherSession);
        } finally {
            other.close();
        }
    }

    @Test
    void watcherClosedAsTheConnectionBreaks_registryStillHearsTheReconnection() throws Exception {
        ZooKeeperRegistry registrar = openWith("sessionTimeout=10s&connectionTimeout=1s");
        String service = TestInstances.serviceName("quirk");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        registrar.register(instance);
        Watcher kept = registrar.watch(service);
        assertThat(kept.next(BOUND)).contains(java.util.List.of(instance));
        Watcher closing = registrar.watch(TestInstances.serviceName("quirk-other"));
        assertThat(closing.next(BOUND)).isPresent();
        long session = Sessions.sessionId(registrar);

        server.stop();
        // Its watch removal is still pending when the client notices the loss: ZooKeeper then drops the
        // Disconnected event, and Curator reports neither the loss nor the reconnection.
        closing.close();
        registrar.deregister(instance); // postponed
        server.restart();

        await().atMost(Duration.ofSeconds(8)).ignoreExceptions()
                .until(() -> plain.checkExists().forPath(path(instance)) == null);
        assertThat(Sessions.sessionId(registrar)).isEqualTo(session);
        Watching.awaitIds(kept, BOUND, Set.of());
        plain.create().withMode(CreateMode.EPHEMERAL).forPath(path(instance) + "-late", record(instance));
        Watching.awaitIds(kept, BOUND, Set.of("i-1")); // the record's id, filed under another node name
    }
}
