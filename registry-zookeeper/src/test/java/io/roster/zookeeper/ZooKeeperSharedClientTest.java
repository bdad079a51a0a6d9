package io.roster.zookeeper;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorWatcher;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.ClientWatches;
import org.apache.zookeeper.ZooKeeper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Registries built on a caller's long-lived, namespaced {@link CuratorFramework}: closing one leaves nothing of it
 * in the client, and does not disturb the others.
 */
class ZooKeeperSharedClientTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private CuratorFramework client;

    @BeforeEach
    void startClient() throws InterruptedException {
        client = CuratorFrameworkFactory.builder().connectString(server.getConnectString()).namespace("tenant")
                .sessionTimeoutMs(10_000).connectionTimeoutMs(5_000).retryPolicy(new RetryOneTime(100)).build();
        client.start();
        assertThat(client.blockUntilConnected(10, TimeUnit.SECONDS)).isTrue();
    }

    @AfterEach
    void closeClient() {
        client.close();
    }

    private Registry registry() {
        return ZooKeeperRegistry.builder().client(client).rootPath("/shared").build();
    }

    @Test
    void registriesClosedOnALongLivedClient_leaveNoWatcherBehindAndAreGarbageCollected() throws Exception {
        ZooKeeper zk = client.getZookeeperClient().getZooKeeper();
        String service = TestInstances.serviceName("shared");
        WeakReference<Registry> first = null;
        for (int cycle = 0; cycle < 20; cycle++) {
            Registry registry = registry();
            if (first == null) {
                first = new WeakReference<>(registry);
            }
            registry.register(TestInstances.of(service, "i-" + cycle));
            Watcher watcher = registry.watch(service); // left open: closing the registry closes it
            Watching.awaitIds(watcher, BOUND, Set.of("i-" + cycle));
            assertThat(plain.checkExists().forPath("/tenant/shared/" + service + "/i-" + cycle))
                    .as("written under the client's namespace").isNotNull();
            assertThat(ClientWatches.count(zk, "/tenant/")).as("watching").isPositive();
            registry.close();
        }
        // Changes under the paths the closed registries watched reach none of them any more.
        plain.create().forPath("/tenant/shared/" + service + "/late");

        // (Curator keeps a watch of its own on /zookeeper/config.)
        await().atMost(BOUND).untilAsserted(() -> assertThat(ClientWatches.count(zk, "/tenant/"))
                .as(() -> ClientWatches.describe(zk)).isZero());
        WeakReference<Registry> firstRegistry = first;
        await().atMost(BOUND).until(() -> {
            System.gc();
            return firstRegistry.get() == null;
        });
        assertThat(client.getChildren().forPath("/shared/" + service)).containsExactly("late");
    }

    @Test
    void closingOneRegistry_leavesAnotherWatchingTheSameServiceOnTheSameClient() throws Exception {
        String service = TestInstances.serviceName("siblings");
        Registry staying = registry();
        try (staying; Watcher kept = staying.watch(service)) {
            assertThat(kept.next(BOUND)).contains(List.of());
            Registry leaving = registry();
            try (Watcher gone = leaving.watch(service)) {
                assertThat(gone.next(BOUND)).contains(List.of());
            }
            leaving.close();

            ServiceInstance instance = TestInstances.of(service, "after");
            staying.register(instance);
            Watching.awaitIds(kept, BOUND, Set.of("after"));
            staying.deregister(instance);
            Watching.awaitIds(kept, BOUND, Set.of());
        }
    }

    @Test
    void getServiceCalledFromAWatcherOfTheSameClient_answers() throws Exception {
        String service = TestInstances.serviceName("reentrant");
        try (Registry registry = registry()) {
            registry.register(TestInstances.of(service, "a"));
            registry.register(TestInstances.of(service, "b"));
            CompletableFuture<List<ServiceInstance>> seen = new CompletableFuture<>();
            client.create().forPath("/trigger-" + service);
            // A Curator watcher runs on ZooKeeper's event thread, which also delivers asynchronous replies.
            client.checkExists().usingWatcher((CuratorWatcher) event -> {
                try {
                    seen.complete(registry.getService(service));
                } catch (RuntimeException e) {
                    seen.completeExceptionally(e);
                }
            }).forPath("/trigger-" + service);

            client.setData().forPath("/trigger-" + service, new byte[] {1});

            assertThat(Watching.ids(seen.get(BOUND.toMillis(), TimeUnit.MILLISECONDS))).containsExactly("a", "b");
            assertThat(registry.services()).contains(service);
        }
    }
}
