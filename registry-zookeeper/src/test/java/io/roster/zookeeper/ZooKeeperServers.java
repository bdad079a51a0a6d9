package io.roster.zookeeper;

import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingCluster;
import org.apache.curator.test.TestingServer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Real ZooKeeper servers in the test JVM (Curator's {@code curator-test}), with a short tick so that tests can
 * use short session timeouts: the server accepts sessions of 1 to 20 ticks.
 */
final class ZooKeeperServers {
    static final int TICK_MS = 500;
    /** Session timeout of the registries under test. */
    static final Duration SESSION_TIMEOUT = Duration.ofSeconds(3);

    private ZooKeeperServers() {
    }

    /** Starts a standalone server on a free port. */
    static TestingServer standalone() throws Exception {
        return new TestingServer(spec(1), true);
    }

    /** Starts an ensemble of servers on free ports. */
    static TestingCluster ensemble(int size) throws Exception {
        List<InstanceSpec> specs = new ArrayList<>();
        for (int id = 1; id <= size; id++) {
            specs.add(spec(id));
        }
        TestingCluster cluster = new TestingCluster(specs);
        cluster.start();
        return cluster;
    }

    private static InstanceSpec spec(int serverId) {
        return new InstanceSpec(null, -1, -1, -1, true, serverId, TICK_MS, -1);
    }

    /**
     * Tells whether a thread belongs to a ZooKeeper server running in this JVM (never to a client): the names
     * ZooKeeper 3.9's standalone server gives its threads.
     */
    static boolean isServerThread(Thread thread) {
        String name = thread.getName();
        return name.startsWith("NIOWorkerThread-")
                || name.startsWith("NIOServerCxnFactory.AcceptThread:")
                || name.startsWith("NIOServerCxnFactory.SelectorThread-")
                || name.startsWith("ProcessThread(sid:")
                || name.startsWith("SyncThread:")
                || name.equals("ConnnectionExpirer") // sic
                || name.equals("ContainerManagerTask")
                || name.equals("RequestThrottler")
                || name.equals("SessionTracker")
                || name.equals("zkservermainrunner");
    }
}
