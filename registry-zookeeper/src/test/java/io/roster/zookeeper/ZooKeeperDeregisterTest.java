package io.roster.zookeeper;

import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Deregistration's round trips: a node no one has touched since our watch saw it is deleted with one
 * version-checked delete, without reading it first (half the latency of read-then-delete); a node someone else
 * changed is read first, and left alone when it is no longer ours.
 */
class ZooKeeperDeregisterTest extends StandaloneServerTest {
    private final AtomicInteger reads = new AtomicInteger();
    private final Thread caller = Thread.currentThread(); // the registry's own upkeep reads on its worker
    private CuratorFramework client;
    private ZooKeeperRegistry registry;

    @BeforeEach
    void open() throws InterruptedException {
        // Counts the test thread's synchronous existence checks of instance nodes: how read-then-delete starts.
        client = CuratorFrameworkFactory.builder().connectString(server.getConnectString())
                .sessionTimeoutMs(10_000).connectionTimeoutMs(5_000).retryPolicy(new RetryOneTime(100))
                .zookeeperFactory((connect, timeout, watcher, canBeReadOnly) ->
                        new ZooKeeper(connect, timeout, watcher, canBeReadOnly) {
                            @Override
                            public Stat exists(String path, boolean watch)
                                    throws KeeperException, InterruptedException {
                                count(path);
                                return super.exists(path, watch);
                            }

                            @Override
                            public Stat exists(String path, Watcher w) throws KeeperException, InterruptedException {
                                count(path);
                                return super.exists(path, w);
                            }
                        })
                .build();
        client.start();
        assertThat(client.blockUntilConnected(10, TimeUnit.SECONDS)).isTrue();
        registry = ZooKeeperRegistry.builder().client(client).rootPath("/deregister").build();
    }

    private void count(String path) {
        if (path.startsWith("/deregister/") && Thread.currentThread() == caller) {
            reads.incrementAndGet();
        }
    }

    @AfterEach
    void close() {
        registry.close();
        client.close();
    }

    /** Waits until ZooKeeper's event thread has run every callback of the requests sent so far. */
    private void drainCallbacks() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        client.getZookeeperClient().getZooKeeper().sync("/", (rc, path, ctx) -> done.countDown(), null);
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    }

    private static String path(ServiceInstance instance) {
        return "/deregister/" + instance.name() + "/" + instance.id();
    }

    @Test
    void anUntouchedNodeIsDeletedWithoutReadingItFirst() throws Exception {
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("dereg"), "i-1");
        registry.register(instance);
        drainCallbacks();
        reads.set(0);

        registry.deregister(instance);

        assertThat(plain.checkExists().forPath(path(instance))).isNull();
        assertThat(reads.get()).as("existence checks before the delete").isZero();
    }

    @Test
    void aNodeChangedBySomeoneElseIsReadFirst_andLeftAloneWhenNoLongerOurs() throws Exception {
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("dereg"), "i-1");
        registry.register(instance);
        drainCallbacks();
        // Someone else takes the node over in one transaction (else the registry restores it in between).
        plain.transaction().forOperations(plain.transactionOp().delete().forPath(path(instance)),
                plain.transactionOp().create().forPath(path(instance), "theirs".getBytes(StandardCharsets.UTF_8)));
        drainCallbacks();

        registry.deregister(instance);

        assertThat(plain.getData().forPath(path(instance))).asString().isEqualTo("theirs");
    }

    @Test
    void aNodeWeUpdatedIsStillDeletedInOneRoundTrip() throws Exception {
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("dereg"), "i-1");
        registry.register(instance);
        registry.register(instance.toBuilder().version("v2").build()); // a setData: the node's version moves on
        drainCallbacks();
        reads.set(0);

        registry.deregister(instance);

        assertThat(plain.checkExists().forPath(path(instance))).isNull();
        assertThat(reads.get()).isZero();
    }

}
