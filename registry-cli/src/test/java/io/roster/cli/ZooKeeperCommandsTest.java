package io.roster.cli;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.FreePorts;
import io.roster.testkit.ThreadLeaks;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.TestingServer;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Every command through the entry point against a real ZooKeeper (curator-test); a root path per test. */
class ZooKeeperCommandsTest {
    private static TestingServer server;
    private static CuratorFramework client;

    @BeforeAll
    static void start() throws Exception {
        server = new TestingServer(true);
        client = CuratorFrameworkFactory.newClient(server.getConnectString(), new RetryOneTime(100));
        client.start();
        client.blockUntilConnected();
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private static String uri(String root) {
        return "zookeeper://" + server.getConnectString() + root;
    }

    private static void create(String path, String data, CreateMode mode) throws Exception {
        client.create().creatingParentsIfNeeded().withMode(mode).forPath(path,
                data.getBytes(StandardCharsets.UTF_8));
    }

    private static String record(String id, String name, String endpoints) {
        return "{\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"version\":\"v1\",\"metadata\":null,"
                + "\"endpoints\":" + endpoints + "}";
    }

    @Test
    void checkNamesEveryPlantedProblemWithItsPathAndExitsOne() throws Exception {
        String root = "/planted";
        create(root + "/greeter/1", record("1", "greeter", "[\"grpc://10.0.0.1:9000\"]"), CreateMode.EPHEMERAL);
        // ZooKeeper refuses the empty path element of /microservices//x; a blank one is its equivalent.
        create(root + "/ /x", record("x", "x", "[\"grpc://10.0.0.2:9000\"]"), CreateMode.EPHEMERAL);
        create(root + "/greeter/2", "not json at all", CreateMode.EPHEMERAL);
        create(root + "/greeter/3", record("3", "billing", "[\"grpc://10.0.0.3:9000\"]"), CreateMode.EPHEMERAL);
        create(root + "/greeter/4", record("4", "greeter", "[]"), CreateMode.EPHEMERAL);
        create(root + "/greeter/5", record("5", "greeter", "[\"grpc://10.0.0.5:9000\"]"), CreateMode.PERSISTENT);
        create(root + "/orphan", record("o", "orphan", "[\"grpc://10.0.0.6:9000\"]"), CreateMode.PERSISTENT);

        Cli.Result result = Cli.run("check", uri(root));

        assertThat(result.exit()).as(result.err()).isEqualTo(Exit.PROBLEMS);
        assertThat(result.out()).containsPattern("empty-service-name +" + root + "/ /x .*blank")
                .containsPattern(root + "/ /x +x +v1 +grpc://10.0.0.2:9000 +empty-service-name")
                .containsPattern("not-decodable +" + root + "/greeter/2 ")
                .containsPattern("name-mismatch +" + root + "/greeter/3 .*'billing'")
                .containsPattern("no-endpoint +" + root + "/greeter/4 ")
                .containsPattern("no-expiry +" + root + "/greeter/5 ")
                .containsPattern("malformed-location +" + root + "/orphan ")
                .containsPattern(root + "/greeter/1 +1 +v1 +grpc://10.0.0.1:9000 +ok")
                .contains("ZooKeeper nodes under " + root).contains("7 records, 6 problems");
    }

    @Test
    void aCleanRegistryExitsZero() {
        try (Registry registry = Registries.open(uri("/clean"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").endpoint("grpc://10.0.0.1:9000")
                    .build());
            Cli.Result result = Cli.run("check", uri("/clean"), "--json");
            assertThat(result.exit()).as(result.out() + result.err()).isEqualTo(Exit.OK);
            assertThat(result.out()).contains("\"clean\" : true").contains("\"location\" : \"/clean/greeter/1\"");
        }
    }

    @Test
    void listAndGetShowWhatIsRegistered() {
        try (Registry registry = Registries.open(uri("/listed"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").version("v1.2.0")
                    .endpoint("grpc://10.0.0.1:9000").build());
            registry.register(ServiceInstance.builder().name("billing").id("1").endpoint("http://10.0.0.3:80")
                    .build());

            Cli.Result list = Cli.run("list", uri("/listed"), "--json");
            assertThat(list.exit()).as(list.err()).isZero();
            assertThat(list.out()).containsPattern("\"name\" : \"billing\",\\s+\"instances\" : 1")
                    .containsPattern("\"name\" : \"greeter\",\\s+\"instances\" : 1");

            Cli.Result get = Cli.run("get", uri("/listed"), "greeter");
            assertThat(get.exit()).isZero();
            assertThat(get.out()).containsPattern("1 +v1.2.0 +grpc://10.0.0.1:9000");
        }
    }

    @Test
    void watchPrintsAnAddedAChangedAndARemovedInstanceInOrder() throws Exception {
        try (Registry registry = Registries.open(uri("/watched"))) {
            Cli watch = Cli.start("watch", uri("/watched"), "greeter", "--json");
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"event\":\"list\""));

            ServiceInstance v1 = ServiceInstance.builder().name("greeter").id("1").version("v1")
                    .endpoint("grpc://10.0.0.1:9000").build();
            registry.register(v1);
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"event\":\"added\""));
            registry.register(v1.toBuilder().version("v2").build());
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"event\":\"changed\""));
            registry.deregister(v1);
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("\"event\":\"removed\""));

            assertThat(watch.stop(Duration.ofSeconds(10))).isZero();
            String[] lines = watch.out().split("\n");
            assertThat(lines).hasSize(4);
            assertThat(lines[0]).contains("\"event\":\"list\"").contains("\"instances\":[]");
            assertThat(lines[1]).contains("\"event\":\"added\"").contains("\"id\":\"1\"")
                    .contains("\"version\":\"v1\"");
            assertThat(lines[2]).contains("\"event\":\"changed\"").contains("\"detail\":\"version v1 -> v2\"");
            assertThat(lines[3]).contains("\"event\":\"removed\"").contains("\"version\":\"v2\"");
        }
    }

    @Test
    void noThreadOutlivesACommand() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        try (Registry registry = Registries.open(uri("/threads"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").endpoint("grpc://10.0.0.1:9000")
                    .build());
            assertThat(Cli.run("list", uri("/threads")).exit()).isZero();
            assertThat(Cli.run("check", uri("/threads")).exit()).isZero();
            Cli watch = Cli.start("watch", uri("/threads"), "greeter");
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("greeter: 1 instance"));
            assertThat(watch.stop(Duration.ofSeconds(10))).isZero();
            assertThat(Cli.run("list", "zookeeper://127.0.0.1:" + FreePorts.next(), "--timeout", "1s").exit())
                    .isEqualTo(Exit.UNREACHABLE);
        }
        // The server runs in this JVM: its threads for new connections are not the command's.
        before.assertNoNewThreads(Duration.ofSeconds(15), t -> t.getName().startsWith("NIOWorkerThread-")
                || t.getName().startsWith("NIOServerCxnFactory") || t.getName().startsWith("SyncThread"));
    }

    @Test
    void anUnreachableRegistryExitsTwoWithinTheTimeout() {
        String unreachable = "zookeeper://127.0.0.1:" + FreePorts.next() + "?digest=app:s3cret";
        long start = System.nanoTime();
        Cli.Result result = Cli.run("check", unreachable, "--timeout", "1s");
        Duration took = Duration.ofNanos(System.nanoTime() - start);

        assertThat(result.exit()).as(result.err()).isEqualTo(Exit.UNREACHABLE);
        assertThat(result.err()).startsWith("roster: cannot reach zookeeper://127.0.0.1:").contains("digest=***")
                .doesNotContain("s3cret").hasLineCount(1);
        assertThat(took).isLessThan(Duration.ofSeconds(5));
    }
}
