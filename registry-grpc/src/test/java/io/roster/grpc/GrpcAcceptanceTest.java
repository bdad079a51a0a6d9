package io.roster.grpc;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.grpc.Setup.TestServer;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Issue 12's acceptance items, each on the embedded registry and on a real etcd, over the in-process and the Netty
 * transport. Servers and the client use separate registries of the same backend, as separate processes would.
 */
class GrpcAcceptanceTest {
    private static final Duration BOUND = Duration.ofSeconds(1);

    static List<Setup> setups() {
        return List.of(new Setup(false, true), new Setup(false, false), new Setup(true, true), new Setup(true, false));
    }

    @AfterAll
    static void stopEtcd() {
        Setup.stopEtcd();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void newInstanceReceivesCallsWithinOneSecondOfRegister(Setup setup) throws Exception {
        try (World world = new World(setup)) {
            world.register(world.server("a", Duration.ZERO), "v1");
            TestServer b = world.server("b", Duration.ZERO);
            ManagedChannel channel = world.channel(RosterPolicy.defaults());
            assertThat(Greeter.hello(channel)).isEqualTo("a");

            long registered = System.nanoTime();
            world.register(b, "v1");
            long firstCallToB = callUntil(channel, "b");
            assertThat(Duration.ofNanos(firstCallToB - registered)).isLessThan(BOUND);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void deregisteredInstanceGetsNoNewCallWithinOneSecondAndNoCallFails(Setup setup) throws Exception {
        try (World world = new World(setup)) {
            world.register(world.server("a", Duration.ZERO), "v1");
            TestServer b = world.server("b", Duration.ZERO);
            ServiceInstance bInstance = world.register(b, "v1");
            ManagedChannel channel = world.channel(RosterPolicy.defaults());
            callUntil(channel, "a");
            callUntil(channel, "b");

            long deregistered = System.nanoTime();
            world.servers.deregister(bInstance);
            long lastStartToB = deregistered;
            int calls = 0;
            // Every call must succeed (an exception fails the test); b may answer only calls begun within the bound.
            while (System.nanoTime() - deregistered < BOUND.toNanos() * 3 / 2 || calls < 50) {
                long start = System.nanoTime();
                if (Greeter.hello(channel).equals("b")) {
                    lastStartToB = start;
                }
                calls++;
            }
            assertThat(Duration.ofNanos(lastStartToB - deregistered)).isLessThan(BOUND);
            assertThat(b.server.isShutdown()).isFalse(); // b still runs: only the registry said it left
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void scaleToZeroFailsFastWithANamedUnavailableAndScalingBackRecovers(Setup setup) throws Exception {
        try (World world = new World(setup)) {
            ServiceInstance a = world.register(world.server("a", Duration.ZERO), "v1");
            ManagedChannel channel = world.channel(RosterPolicy.defaults());
            assertThat(Greeter.hello(channel)).isEqualTo("a");

            world.servers.deregister(a);
            StatusRuntimeException failure = await().atMost(Duration.ofSeconds(5)).until(
                    () -> catchThrowableOfType(StatusRuntimeException.class, () -> Greeter.hello(channel)),
                    e -> e != null);
            assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(failure.getStatus().getDescription())
                    .contains("service '" + world.service + "'")
                    .contains(world.client.toString())
                    .contains("lists no instance");
            // Fails fast: long before the call's 10 s deadline.
            long start = System.nanoTime();
            catchThrowableOfType(StatusRuntimeException.class, () -> Greeter.hello(channel));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(BOUND);

            long back = System.nanoTime();
            world.servers.register(a);
            await().atMost(Duration.ofSeconds(5)).ignoreExceptions().until(() -> Greeter.hello(channel).equals("a"));
            assertThat(Duration.ofNanos(System.nanoTime() - back)).isLessThan(Duration.ofSeconds(2));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void versionFilterRoutesOnlyToMatchingInstances(Setup setup) throws Exception {
        try (World world = new World(setup)) {
            TestServer old = world.server("old", Duration.ZERO);
            world.register(old, "v1");
            world.register(world.server("current", Duration.ZERO), "v2");
            world.register(world.server("current2", Duration.ZERO), "v2");
            ManagedChannel channel = world.channel(RosterPolicy.builder().version("v2").build());
            Map<String, Integer> answers = new ConcurrentHashMap<>();
            for (int i = 0; i < 60; i++) {
                answers.merge(Greeter.hello(channel), 1, Integer::sum);
            }
            assertThat(answers).containsOnlyKeys("current", "current2");
            assertThat(old.calls).hasValue(0);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void powerOfTwoChoicesShiftsLoadAwayFromASlowInstance(Setup setup) throws Exception {
        try (World world = new World(setup)) {
            TestServer fast = world.server("fast", Duration.ZERO);
            TestServer slow = world.server("slow", Duration.ofMillis(25));
            world.register(fast, "v1");
            world.register(slow, "v1");
            ManagedChannel channel = world.channel(RosterPolicy.builder().balancer("p2c").build());
            await().atMost(Duration.ofSeconds(5)).until(() -> Greeter.hello(channel).equals("slow"));
            fast.calls.set(0);
            slow.calls.set(0);
            for (int i = 0; i < 300; i++) {
                Greeter.hello(channel);
            }
            // Round-robin would send it half; P2C sends it the forced picks only (one per 3 s at most).
            assertThat(slow.calls.get()).isLessThan(300 / 10);
            assertThat(fast.calls.get() + slow.calls.get()).isEqualTo(300);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void rollingRestartOfTwoServersUnderLoadFailsNoCall(Setup setup) throws Exception {
        Duration drain = Duration.ofMillis(500);
        AtomicBoolean loading = new AtomicBoolean(true);
        AtomicLong ok = new AtomicLong();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        List<ServerRegistration> registrations = new ArrayList<>();
        try (World world = new World(setup)) {
            TestServer a = world.server("a", Duration.ofMillis(2));
            ServerRegistration ra = register(world, a, drain, registrations);
            ServerRegistration rb = register(world, world.server("b", Duration.ofMillis(2)), drain, registrations);
            ManagedChannel channel = world.channel(RosterPolicy.defaults());
            List<Thread> load = List.of(new Thread(() -> load(channel, loading, ok, failures)),
                    new Thread(() -> load(channel, loading, ok, failures)));
            try {
                callUntil(channel, "a");
                callUntil(channel, "b");
                load.forEach(Thread::start);

                for (ServerRegistration leaving : List.of(ra, rb)) {
                    leaving.close(); // deregister, drain, shut down gracefully
                    TestServer next = world.server(leaving.instance().id() + "2", Duration.ofMillis(2));
                    register(world, next, Duration.ZERO, registrations);
                    await().atMost(Duration.ofSeconds(5)).until(() -> next.calls.get() > 0);
                }
                assertThat(a.server.isTerminated()).isTrue();
            } finally {
                loading.set(false);
                for (Thread thread : load) {
                    thread.join(10_000);
                }
                registrations.forEach(ServerRegistration::close);
            }
        }
        assertThat(failures).isEmpty();
        assertThat(ok.get()).isGreaterThan(50);
    }

    private static ServerRegistration register(World world, TestServer server, Duration drain,
            List<ServerRegistration> registrations) {
        ServerRegistration.Builder builder = ServerRegistration.builder(world.servers, server.server, world.service)
                .id(server.id).version("v1").drain(drain).grace(Duration.ofSeconds(5));
        if (world.setup.inProcess) {
            builder.endpoint(server.endpoint); // an in-process server has no network socket to derive it from
        }
        ServerRegistration registration = builder.register();
        registrations.add(registration);
        assertThat(registration.instance().endpoints()).extracting(Object::toString).containsExactly(server.endpoint);
        return registration;
    }

    private static void load(ManagedChannel channel, AtomicBoolean loading, AtomicLong ok, List<Throwable> failures) {
        while (loading.get()) {
            try {
                Greeter.hello(channel);
                ok.incrementAndGet();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
    }

    static ServiceInstance instance(String service, TestServer server, String version) {
        return ServiceInstance.builder().name(service).id(server.id).version(version).endpoint(server.endpoint).build();
    }

    /** Calls until {@code id} answers; returns when that call started. */
    static long callUntil(ManagedChannel channel, String id) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            long start = System.nanoTime();
            if (Greeter.hello(channel).equals(id)) {
                return start;
            }
        }
        return fail("%s never answered", id);
    }

    static void close(ManagedChannel channel) throws InterruptedException {
        channel.shutdownNow();
        assertThat(channel.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
    }

    /**
     * One test's world: a registry for the servers and one for the client (separate processes would each have
     * theirs), the servers started, the channel; all closed at the end.
     */
    private static final class World implements AutoCloseable {
        final Setup setup;
        final String service = TestInstances.serviceName("greeter");
        final Registry servers;
        final Registry client;
        private final List<TestServer> started = new ArrayList<>();
        private final List<ManagedChannel> channels = new ArrayList<>();

        World(Setup setup) {
            this.setup = setup;
            this.servers = setup.openRegistry();
            this.client = setup.openRegistry();
        }

        TestServer server(String id, Duration delay) {
            TestServer server = setup.startServer(id, delay);
            started.add(server);
            return server;
        }

        ServiceInstance register(TestServer server, String version) {
            ServiceInstance instance = instance(service, server, version);
            servers.register(instance);
            return instance;
        }

        ManagedChannel channel(RosterPolicy policy) {
            ManagedChannel channel = setup.channel(client, service, policy);
            channels.add(channel);
            return channel;
        }

        @Override
        public void close() throws InterruptedException {
            for (ManagedChannel channel : channels) {
                GrpcAcceptanceTest.close(channel);
            }
            for (TestServer server : started) {
                server.close();
            }
            client.close();
            servers.close();
        }
    }
}
