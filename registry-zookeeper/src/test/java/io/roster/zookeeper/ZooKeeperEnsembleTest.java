package io.roster.zookeeper;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A three-server ensemble loses a server: the one the registering client is connected to, or the only one a
 * watching client can reach. Each test restarts the server it killed.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ZooKeeperEnsembleTest {
    private static final Duration BOUND = Duration.ofSeconds(20);
    private static TestingCluster cluster;

    @BeforeAll
    static void start() throws Exception {
        cluster = ZooKeeperServers.ensemble(3);
    }

    @AfterAll
    static void stop() throws Exception {
        cluster.close();
    }

    @Test
    void c_serverOfTheRegistrarKilled_instanceStaysOnItsSessionAndWritesWork() throws Exception {
        String uri = "zookeeper://" + cluster.getConnectString() + "/ensemble?sessionTimeout=6s&connectionTimeout=3s";
        String service = TestInstances.serviceName("ensemble");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        InstanceSpec connected = null;
        try (ZooKeeperRegistry registrar = (ZooKeeperRegistry) Registries.open(uri);
             Registry observer = Registries.open(uri);
             Watcher watcher = observer.watch(service)) {
            registrar.register(instance);
            Watching.awaitIds(watcher, BOUND, Set.of("i-1"));
            long session = Sessions.sessionId(registrar);
            connected = cluster.findConnectionInstance(
                    registrar.curator().getZookeeperClient().getZooKeeper());
            assertThat(connected).as("the server the registrar is connected to").isNotNull();

            InstanceSpec killed = connected;
            assertThat(cluster.killServer(killed)).isTrue();

            // The client moves to a surviving server within its session: same session, node untouched.
            await().atMost(BOUND).ignoreExceptions().until(() -> registrar.curator().getZookeeperClient().isConnected()
                    && !killed.equals(cluster.findConnectionInstance(
                            registrar.curator().getZookeeperClient().getZooKeeper())));
            assertThat(Sessions.sessionId(registrar)).isEqualTo(session);
            registrar.register(TestInstances.of(service, "i-2"));
            Watching.awaitIds(watcher, BOUND, Set.of("i-1", "i-2"));
            assertThat(Watching.ids(observer.getService(service))).containsExactly("i-1", "i-2");
            try (CuratorFramework plain = Sessions.plainClient(cluster.getConnectString())) {
                Stat stat = plain.checkExists().forPath("/ensemble/" + service + "/i-1");
                assertThat(stat.getEphemeralOwner()).isEqualTo(session);
            }
        } finally {
            if (connected != null) {
                restart(connected); // for the other tests
            }
        }
    }

    @Test
    void watcherCutOffFromTheEnsemble_keepsItsLastList_thenCatchesUpWithChangesItMissed() throws Exception {
        InstanceSpec lonely = cluster.getInstances().iterator().next();
        StringBuilder others = new StringBuilder();
        cluster.getInstances().stream().filter(spec -> !spec.equals(lonely))
                .forEach(spec -> others.append(others.length() == 0 ? "" : ",").append(spec.getConnectString()));
        String service = TestInstances.serviceName("cut-off");
        ServiceInstance a = TestInstances.of(service, "a");
        // A client of our own, supplied to the registry: Curator's ensemble tracking would otherwise learn the
        // other servers from the ensemble's configuration and move there.
        CuratorFramework cutOff = CuratorFrameworkFactory.builder().connectString(lonely.getConnectString())
                .ensembleTracker(false).sessionTimeoutMs(10_000).connectionTimeoutMs(1_000)
                .retryPolicy(new RetryOneTime(100)).build();
        cutOff.start();
        try (cutOff;
             Registry registrar = Registries.open("zookeeper://" + others + "/ensemble?sessionTimeout=6s");
             Registry observer = ZooKeeperRegistry.builder().client(cutOff).rootPath("/ensemble").build();
             Watcher watcher = observer.watch(service)) {
            registrar.register(a);
            Watching.awaitIds(watcher, BOUND, Set.of("a"));

            cluster.killServer(lonely); // the observer's only server
            registrar.register(TestInstances.of(service, "b"));
            registrar.deregister(a);

            assertThat(watcher.next(Duration.ofSeconds(1))).as("nothing pushed while cut off").isEmpty();
            assertThat(observer.getService(service)).as("getService falls back to the watched list")
                    .containsExactly(a);

            restart(lonely);

            Watching.awaitIds(watcher, BOUND, Set.of("b"));
            await().atMost(BOUND).ignoreExceptions()
                    .until(() -> Watching.ids(observer.getService(service)).equals(Set.of("b")));
        } finally {
            restart(lonely);
        }
    }

    /** Restarts a server and waits until it has rejoined the quorum and serves clients. */
    private static void restart(InstanceSpec spec) throws Exception {
        cluster.restartServer(spec);
        Sessions.plainClient(spec.getConnectString()).close();
    }
}
