package io.roster.zookeeper;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Ways to break a ZooKeeper session in tests, and a plain Curator client to look at the server with. */
final class Sessions {
    private Sessions() {
    }

    /** A plain, started Curator client; close it after use. */
    static CuratorFramework plainClient(String connectString) throws InterruptedException {
        return plainClient(connectString, null);
    }

    /** A plain, started Curator client authenticated with digest {@code user:password}; close it after use. */
    static CuratorFramework plainClient(String connectString, String digest) throws InterruptedException {
        CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder().connectString(connectString)
                .sessionTimeoutMs(10_000).connectionTimeoutMs(5_000).retryPolicy(new RetryOneTime(100));
        if (digest != null) {
            builder.authorization("digest", digest.getBytes(StandardCharsets.UTF_8));
        }
        CuratorFramework client = builder.build();
        client.start();
        if (!client.blockUntilConnected(10, TimeUnit.SECONDS)) {
            client.close();
            throw new IllegalStateException("plain client could not connect to " + connectString);
        }
        return client;
    }

    static long sessionId(ZooKeeperRegistry registry) throws Exception {
        return registry.curator().getZookeeperClient().getZooKeeper().getSessionId();
    }

    /**
     * Expires the registry's session on the server, as after a long partition: a second handle takes the session
     * over and closes it, so the server deletes the session's ephemeral nodes and the registry's client learns that
     * its session expired when it reconnects.
     */
    static void expireOnServer(ZooKeeperRegistry registry, String connectString) throws Exception {
        ZooKeeper zk = registry.curator().getZookeeperClient().getZooKeeper();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper twin = new ZooKeeper(connectString, 10_000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, zk.getSessionId(), zk.getSessionPasswd());
        try {
            if (!connected.await(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("could not take the session over");
            }
        } finally {
            twin.close();
        }
    }

    /**
     * Makes the registry's client give its session up and open a new one, as Curator does after a session timeout
     * without the server. The client closes the old session if it can reach the server: with the server down, the
     * server keeps the old session (and its nodes) until it expires it.
     */
    static void expireOnClient(ZooKeeperRegistry registry) throws Exception {
        registry.curator().getZookeeperClient().getZooKeeper().getTestable().injectSessionExpiration();
    }
}
