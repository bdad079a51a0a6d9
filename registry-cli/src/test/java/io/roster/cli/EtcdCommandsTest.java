package io.roster.cli;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.PutOption;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.EtcdServer;
import io.roster.testkit.FreePorts;
import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Every command through the entry point against a real etcd; each test in a namespace of its own. */
class EtcdCommandsTest {
    private static EtcdServer etcd;
    private static Client client;

    @BeforeAll
    static void start() throws Exception {
        etcd = EtcdServer.start();
        client = Client.builder().endpoints("http://" + etcd.endpoint()).build();
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (etcd != null) {
            etcd.close();
        }
    }

    private static String uri(String namespace) {
        return "etcd://" + etcd.endpoint() + "/" + namespace;
    }

    private static void put(String key, String value, boolean onLease) throws Exception {
        PutOption.Builder option = PutOption.builder();
        if (onLease) {
            long lease = client.getLeaseClient().grant(60).get(10, TimeUnit.SECONDS).getID();
            option.withLeaseId(lease);
        }
        client.getKVClient().put(bytes(key), bytes(value), option.build()).get(10, TimeUnit.SECONDS);
    }

    private static ByteSequence bytes(String text) {
        return ByteSequence.from(text, StandardCharsets.UTF_8);
    }

    private static String record(String id, String name, String endpoints) {
        return "{\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"version\":\"v1\",\"metadata\":null,"
                + "\"endpoints\":" + endpoints + "}";
    }

    @Test
    void checkNamesEveryPlantedProblemWithItsKeyAndExitsOne() throws Exception {
        String ns = "/microservices"; // the default namespace; the other tests keep out of it
        put(ns + "/greeter/1", record("1", "greeter", "[\"grpc://10.0.0.1:9000\"]"), true);
        put(ns + "//x", record("x", "x", "[\"grpc://10.0.0.2:9000\"]"), true);
        put(ns + "/greeter/2", "not json at all", true);
        put(ns + "/greeter/3", record("3", "billing", "[\"grpc://10.0.0.3:9000\"]"), true);
        put(ns + "/greeter/4", record("4", "greeter", "null"), true);
        put(ns + "/greeter/5", record("5", "greeter", "[\"grpc://10.0.0.5:9000\"]"), false);

        Cli.Result result = Cli.run("check", "etcd://" + etcd.endpoint());

        assertThat(result.exit()).as(result.err()).isEqualTo(Exit.PROBLEMS);
        assertThat(result.out())
                .containsPattern("empty-service-name +" + ns + "//x +the service name in " + ns + "//x is empty")
                .containsPattern(ns + "//x +x +v1 +grpc://10.0.0.2:9000 +empty-service-name")
                .containsPattern("not-decodable +" + ns + "/greeter/2 ")
                .containsPattern("name-mismatch +" + ns + "/greeter/3 .*'billing'")
                .containsPattern("no-endpoint +" + ns + "/greeter/4 ")
                .containsPattern("no-expiry +" + ns + "/greeter/5 ")
                .containsPattern(ns + "/greeter/1 +1 +v1 +grpc://10.0.0.1:9000 +ok")
                .contains("etcd keys under " + ns + "/").contains("(raw records)")
                .contains("6 records, 5 problems");

        Cli.Result json = Cli.run("check", "etcd://" + etcd.endpoint(), "--json");
        assertThat(json.exit()).isEqualTo(Exit.PROBLEMS);
        assertThat(json.out()).contains("\"kind\" : \"empty-service-name\"")
                .contains("\"location\" : \"" + ns + "//x\"")
                .contains("\"raw\" : true").contains("\"clean\" : false");

        Cli.Result one = Cli.run("check", "etcd://" + etcd.endpoint(), "greeter");
        assertThat(one.out()).doesNotContain(ns + "//x").contains(ns + "/greeter/2");
    }

    @Test
    void aCleanRegistryExitsZero() throws Exception {
        try (Registry registry = Registries.open(uri("clean"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").endpoint("grpc://10.0.0.1:9000")
                    .build());
            Cli.Result result = Cli.run("check", uri("clean"));
            assertThat(result.exit()).as(result.out() + result.err()).isEqualTo(Exit.OK);
            assertThat(result.out()).contains("1 record, no problems");
        }
    }

    @Test
    void listAndGetShowWhatIsRegistered() {
        try (Registry registry = Registries.open(uri("listed"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").version("v1.2.0")
                    .metadata("zone", "a").endpoint("grpc://10.0.0.1:9000").build());
            registry.register(ServiceInstance.builder().name("greeter").id("2").endpoint("grpc://10.0.0.2:9000")
                    .build());
            registry.register(ServiceInstance.builder().name("billing").id("1").endpoint("http://10.0.0.3:80")
                    .build());

            Cli.Result list = Cli.run("list", uri("listed"));
            assertThat(list.exit()).as(list.err()).isZero();
            assertThat(list.out()).containsPattern("billing +1\n").containsPattern("greeter +2\n");

            Cli.Result get = Cli.run("get", uri("listed"), "greeter", "--json");
            assertThat(get.exit()).isZero();
            assertThat(get.out()).contains("\"version\" : \"v1.2.0\"").contains("\"zone\" : \"a\"")
                    .contains("grpc://10.0.0.2:9000");
        }
    }

    @Test
    void watchPrintsAnAddedAChangedAndARemovedInstanceInOrder() throws Exception {
        try (Registry registry = Registries.open(uri("watched"))) {
            Cli watch = Cli.start("watch", uri("watched"), "greeter");
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("greeter: 0 instances"));

            ServiceInstance v1 = ServiceInstance.builder().name("greeter").id("1").version("v1")
                    .endpoint("grpc://10.0.0.1:9000").build();
            registry.register(v1);
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("+ added"));
            registry.register(v1.toBuilder().version("v2").build());
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("~ changed"));
            registry.deregister(v1);
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("- removed"));

            assertThat(watch.stop(Duration.ofSeconds(10))).isZero();
            assertThat(watch.out()).containsPattern("(?s)\\+ added +1 +v1 +grpc://10.0.0.1:9000.*"
                    + "~ changed +1 +version v1 -> v2.*- removed +1 +v2");
        }
    }

    @Test
    void noThreadOutlivesACommand() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        try (Registry registry = Registries.open(uri("threads"))) {
            registry.register(ServiceInstance.builder().name("greeter").id("1").endpoint("grpc://10.0.0.1:9000")
                    .build());
            assertThat(Cli.run("list", uri("threads")).exit()).isZero();
            assertThat(Cli.run("get", uri("threads"), "greeter").exit()).isZero();
            assertThat(Cli.run("check", uri("threads")).exit()).isZero();
            Cli watch = Cli.start("watch", uri("threads"), "greeter");
            await().atMost(Duration.ofSeconds(20)).until(() -> watch.out().contains("greeter: 1 instance"));
            assertThat(watch.stop(Duration.ofSeconds(10))).isZero();
            assertThat(Cli.run("list", "etcd://127.0.0.1:" + FreePorts.next(), "--timeout", "1s").exit())
                    .isEqualTo(Exit.UNREACHABLE);
        }
        before.assertNoNewThreads(Duration.ofSeconds(15), t -> false);
    }

    @Test
    void anUnreachableRegistryExitsTwoWithinTheTimeout() {
        String unreachable = "etcd://root:s3cret@127.0.0.1:" + FreePorts.next();
        for (String command : new String[] {"list", "check"}) {
            long start = System.nanoTime();
            Cli.Result result = Cli.run(command, unreachable, "--timeout", "1s");
            Duration took = Duration.ofNanos(System.nanoTime() - start);

            assertThat(result.exit()).as(result.err()).isEqualTo(Exit.UNREACHABLE);
            assertThat(result.err()).startsWith("roster: cannot reach etcd://***@127.0.0.1:").doesNotContain("s3cret")
                    .hasLineCount(1);
            assertThat(took).as(command).isLessThan(Duration.ofSeconds(5));
        }
    }
}
