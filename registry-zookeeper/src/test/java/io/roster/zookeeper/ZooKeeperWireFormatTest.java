package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.Stat;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What goes on the wire is exactly what Go Kratos writes and reads (kratos-registry.md §8 and §13). */
class ZooKeeperWireFormatTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    @Test
    void defaultRootPersistentServiceNodeAndEphemeralInstanceNodeWithKratosJson() throws Exception {
        String service = TestInstances.serviceName("golden");
        ServiceInstance instance = ServiceInstance.builder().name(service).id("golden-1").version("v1.2.3")
                .metadata("weight", "10").metadata("region", "sh<1>")
                .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000").build();
        try (Registry registry = open("")) {
            registry.register(instance);

            Stat root = plain.checkExists().forPath("/microservices");
            assertThat(root.getEphemeralOwner()).as("root is persistent").isZero();
            assertThat(plain.getData().forPath("/microservices")).isEmpty();
            Stat serviceNode = plain.checkExists().forPath("/microservices/" + service);
            assertThat(serviceNode.getEphemeralOwner()).as("service node is persistent").isZero();
            assertThat(plain.getData().forPath("/microservices/" + service)).isEmpty();

            String path = "/microservices/" + service + "/golden-1";
            Stat stat = new Stat();
            byte[] data = plain.getData().storingStatIn(stat).forPath(path);
            assertThat(stat.getEphemeralOwner()).as("instance node is ephemeral")
                    .isEqualTo(Sessions.sessionId((ZooKeeperRegistry) registry));
            assertThat(new String(data, StandardCharsets.UTF_8)).isEqualTo("{\"id\":\"golden-1\",\"name\":\"" + service
                    + "\",\"version\":\"v1.2.3\",\"metadata\":{\"region\":\"sh\\u003c1\\u003e\",\"weight\":\"10\"},"
                    + "\"endpoints\":[\"grpc://10.0.0.5:9000\",\"http://10.0.0.5:8000\"]}");
            for (String p : List.of("/microservices", "/microservices/" + service, path)) {
                assertThat(plain.getACL().forPath(p)).as("ACL of " + p).isEqualTo(ZooDefs.Ids.OPEN_ACL_UNSAFE);
            }

            registry.deregister(instance);
            assertThat(plain.checkExists().forPath(path)).isNull();
            assertThat(plain.checkExists().forPath("/microservices/" + service)).as("service node stays, as in Kratos")
                    .isNotNull();
        }
    }

    @Test
    void rootPathFromTheUri() throws Exception {
        String service = TestInstances.serviceName("rooted");
        try (Registry registry = open("/custom/root/")) {
            registry.register(TestInstances.of(service, "a"));
            assertThat(plain.checkExists().forPath("/custom/root/" + service + "/a")).isNotNull();
        }
    }

    @Test
    void nodesWrittenByKratosAreDiscoveredAndBadOnesSkipped() throws Exception {
        String service = TestInstances.serviceName("from-go");
        String base = "/microservices/" + service;
        // As Go Kratos writes them: persistent parents with empty data, compact JSON, Go's escaping, null metadata,
        // and a legacy endpoint query.
        plain.create().creatingParentsIfNeeded().forPath(base, new byte[0]);
        plain.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/go-1", ("{\"id\":\"go-1\",\"name\":\"" + service
                + "\",\"version\":\"v2.0.0\",\"metadata\":null,\"endpoints\":[\"grpc://10.1.0.7:9000?isSecure=false\","
                + "\"http://10.1.0.7:8000\"]}").getBytes(StandardCharsets.UTF_8));
        plain.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/go-2", ("{\"id\":\"go-2\",\"name\":\"" + service
                + "\",\"version\":\"\",\"metadata\":{\"note\":\"a\\u003cb\\u0026c\"},\"endpoints\":null}")
                .getBytes(StandardCharsets.UTF_8));
        plain.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/broken", "not json".getBytes());
        plain.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/other", ("{\"id\":\"other\",\"name\":\"someone-else\"}")
                .getBytes(StandardCharsets.UTF_8));

        // Read leniently: the legacy query is kept as written.
        ServiceInstance go1 = ServiceInstance.builder().name(service).id("go-1").version("v2.0.0")
                .endpoint("grpc://10.1.0.7:9000?isSecure=false").endpoint("http://10.1.0.7:8000").buildLenient();
        ServiceInstance go2 = ServiceInstance.builder().name(service).id("go-2").metadata("note", "a<b&c").build();
        try (Registry registry = open(""); Watcher watcher = registry.watch(service)) {
            assertThat(registry.getService(service)).containsExactly(go1, go2);
            assertThat(watcher.next(BOUND)).contains(List.of(go1, go2));

            plain.delete().forPath(base + "/go-1");
            Watching.awaitIds(watcher, BOUND, Set.of("go-2"));
        }
    }

    @Test
    void aChildGoneBetweenListAndReadIsSkipped() throws Exception {
        String service = TestInstances.serviceName("gone");
        try (Registry registry = open("")) {
            ServiceInstance kept = TestInstances.of(service, "kept");
            registry.register(kept);
            ZooKeeperNodes nodes = new ZooKeeperNodes(((ZooKeeperRegistry) registry).curator(), "/microservices",
                    ZooDefs.Ids.OPEN_ACL_UNSAFE, ZooKeeperNodes.DEFAULT_MAX_RECORD_BYTES);
            // As if "listed-then-deleted" had been listed, then deleted before its read.
            assertThat(nodes.readInstances(service, List.of("listed-then-deleted", "kept")))
                    .isEqualTo(java.util.Map.of("kept", kept));
        }
    }

    @Test
    void instanceOverTheRecordLimit_failsNamingTheFieldAndTheLimit_beforeAnythingIsSent() throws Exception {
        String service = TestInstances.serviceName("huge");
        Registry registry = open("/limits");
        ServiceInstance huge = TestInstances.instance(service, "big").metadata("blob", "x".repeat(1_100_000)).build();

        assertThatThrownBy(() -> registry.register(huge)).isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("metadata"))
                .hasMessageContaining("1000000").hasMessageContaining("maxRecordBytes");
        assertThat(plain.checkExists().forPath("/limits/" + service)).as("nothing was written").isNull();

        Registry strict = open("/limits?maxRecordBytes=4096");
        ServiceInstance fiveKilobytes = TestInstances.instance(service, "5k").metadata("blob", "x".repeat(5_000))
                .build();
        assertThatThrownBy(() -> strict.register(fiveKilobytes)).isInstanceOfSatisfying(InvalidInstanceException.class,
                e -> assertThat(e.field()).isEqualTo("metadata")).hasMessageContaining("4096");
        ServiceInstance.Builder manyEndpoints = TestInstances.instance(service, "wide");
        for (int port = 1; port <= 300; port++) {
            manyEndpoints.endpoint("http://10.0.0.1:" + port);
        }
        assertThatThrownBy(() -> strict.register(manyEndpoints.build()))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("endpoints"));
        assertThat(plain.checkExists().forPath("/limits/" + service)).as("nothing was written").isNull();

        strict.register(TestInstances.of(service, "fits"));
        assertThat(Watching.ids(registry.getService(service))).containsExactly("fits");
    }

    @Test
    void anUpdateFiresChildWatches_asKratosWatchersNeed_andKeepsTheNode() throws Exception {
        String service = TestInstances.serviceName("updated");
        String base = "/microservices/" + service;
        ServiceInstance first = TestInstances.of(service, "u-1");
        ServiceInstance moved = first.toBuilder().metadata("zone", "zone-b").build();
        try (Registry registry = open("")) {
            registry.register(first);
            Stat before = plain.checkExists().forPath(base + "/u-1");
            java.util.concurrent.CountDownLatch childrenChanged = new java.util.concurrent.CountDownLatch(1);
            // What Go Kratos's watcher does: a one-shot watch on the child list (ChildrenW).
            assertThat(plain.getChildren().usingWatcher((org.apache.zookeeper.Watcher) event -> childrenChanged.countDown())
                    .forPath(base)).containsExactly("u-1");

            registry.register(moved);

            assertThat(childrenChanged.await(10, java.util.concurrent.TimeUnit.SECONDS)).as("child watch fired").isTrue();
            assertThat(plain.getChildren().forPath(base)).as("nothing else ever listed").containsExactly("u-1");
            assertThat(new String(plain.getData().forPath(base + "/u-1"), StandardCharsets.UTF_8))
                    .isEqualTo(InstanceJson.encode(moved));
            Stat after = plain.checkExists().forPath(base + "/u-1");
            assertThat(after.getCzxid()).as("updated in place, never deleted").isEqualTo(before.getCzxid());
        }
    }
}
