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
        String service = TestInstances.serviceName("greeter");
        try (Registry servers = setup.openRegistry();
             Registry client = setup.openRegistry();
             TestServer a = setup.startServer("a", Duration.ZERO);
             TestServer b = setup.startServer("b", Duration.ZERO)) {
            servers.register(instance(service, a, "v1"));
            ManagedChannel channel = setup.channel(client, service, RosterPolicy.defaults());
            try {
                assertThat(Greeter.hello(channel)).isEqualTo("a");

                long registered = System.nanoTime();
                servers.register(instance(service, b, "v1"));
                long firstCallToB = callUntil(channel, "b");
                assertThat(Duration.ofNanos(firstCallToB - registered)).isLessThan(BOUND);
            } finally {
                close(channel);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void deregisteredInstanceGetsNoNewCallWithinOneSecondAndNoCallFails(Setup setup) throws Exception {
        String service = TestInstances.serviceName("greeter");
        try (Registry servers = setup.openRegistry();
             Registry client = setup.openRegistry();
             TestServer a = setup.startServer("a", Duration.ZERO);
             TestServer b = setup.startServer("b", Duration.ZERO)) {
            servers.register(instance(service, a, "v1"));
            ServiceInstance bInstance = instance(service, b, "v1");
            servers.register(bInstance);
            ManagedChannel channel = setup.channel(client, service, RosterPolicy.defaults());
            try {
                callUntil(channel, "a");
                callUntil(channel, "b");

                long deregistered = System.nanoTime();
                servers.deregister(bInstance);
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
            } finally {
                close(channel);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void scaleToZeroFailsFastWithANamedUnavailableAndScalingBackRecovers(Setup setup) throws Exception {
        String service = TestInstances.serviceName("greeter");
        try (Registry servers = setup.openRegistry();
             Registry client = setup.openRegistry();
             TestServer a = setup.startServer("a", Duration.ZERO)) {
            ServiceInstance aInstance = instance(service, a, "v1");
            servers.register(aInstance);
            ManagedChannel channel = setup.channel(client, service, RosterPolicy.defaults());
            try {
                assertThat(Greeter.hello(channel)).isEqualTo("a");

                servers.deregister(aInstance);
                StatusRuntimeException failure = await().atMost(Duration.ofSeconds(5)).until(
                        () -> catchThrowableOfType(StatusRuntimeException.class, () -> Greeter.hello(channel)),
                        e -> e != null);
                assertThat(failure.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
                assertThat(failure.getStatus().getDescription())
                        .contains("service '" + service + "'")
                        .contains(client.toString())
                        .contains("lists no instance");
                // Fails fast: long before the call's 10 s deadline.
                long start = System.nanoTime();
                catchThrowableOfType(StatusRuntimeException.class, () -> Greeter.hello(channel));
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(BOUND);

                long back = System.nanoTime();
                servers.register(aInstance);
                await().atMost(Duration.ofSeconds(5)).ignoreExceptions()
                        .until(() -> Greeter.hello(channel).equals("a"));
                assertThat(Duration.ofNanos(System.nanoTime() - back)).isLessThan(Duration.ofSeconds(2));
            } finally {
                close(channel);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void versionFilterRoutesOnlyToMatchingInstances(Setup setup) throws Exception {
        String service = TestInstances.serviceName("greeter");
        try (Registry servers = setup.openRegistry();
             Registry client = setup.openRegistry();
             TestServer old = setup.startServer("old", Duration.ZERO);
             TestServer current = setup.startServer("current", Duration.ZERO);
             TestServer current2 = setup.startServer("current2", Duration.ZERO)) {
            servers.register(instance(service, old, "v1"));
            servers.register(instance(service, current, "v2"));
            servers.register(instance(service, current2, "v2"));
            ManagedChannel channel = setup.channel(client, service, RosterPolicy.builder().version("v2").build());
            try {
                Map<String, Integer> answers = new ConcurrentHashMap<>();
                for (int i = 0; i < 60; i++) {
                    answers.merge(Greeter.hello(channel), 1, Integer::sum);
                }
                assertThat(answers).containsOnlyKeys("current", "current2");
                assertThat(old.calls).hasValue(0);
            } finally {
                close(channel);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void powerOfTwoChoicesShiftsLoadAwayFromASlowInstance(Setup setup) throws Exception {
        String service = TestInstances.serviceName("greeter");
        try (Registry servers = setup.openRegistry();
             Registry client = setup.openRegistry();
             TestServer fast = setup.startServer("fast", Duration.ZERO);
             TestServer slow = setup.startServer("slow", Duration.ofMillis(25))) {
            servers.register(instance(service, fast, "v1"));
            servers.register(instance(service, slow, "v1"));
            ManagedChannel channel = setup.channel(client, service,
                    RosterPolicy.builder().balancer("p2c").build());
            try {
                await().atMost(Duration.ofSeconds(5)).until(() -> Greeter.hello(channel).equals("slow"));
                fast.calls.set(0);
                slow.calls.set(0);
                for (int i = 0; i < 300; i++) {
                    Greeter.hello(channel);
                }
                // Round-robin would send it half; P2C sends it the forced picks only (one per 3 s at most).
                assertThat(slow.calls.get()).isLessThan(300 / 10);
                assertThat(fast.calls.get() + slow.calls.get()).isEqualTo(300);
            } finally {
                close(channel);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void rollingRestartOfTwoServersUnderLoadFailsNoCall(Setup setup) throws Exception {
        String service = TestInstances.serviceName("greeter");
        Duration drain = Duration.ofMillis(500);
        try (Registry servers = setup.openRegistry(); Registry client = setup.openRegistry()) {
            TestServer a = setup.startServer("a", Duration.ofMillis(2));
            TestServer b = setup.startServer("b", Duration.ofMillis(2));
            ServerRegistration ra = register(setup, servers, service, a, drain);
            ServerRegistration rb = register(setup, servers, service, b, drain);
            ManagedChannel channel = setup.channel(client, service, RosterPolicy.defaults());
            AtomicBoolean loading = new AtomicBoolean(true);
            AtomicLong ok = new AtomicLong();
            List<Throwable> failures = new CopyOnWriteArrayList<>();
            List<Thread> load = List.of(new Thread(() -> load(channel, loading, ok, failures)),
                    new Thread(() -> load(channel, loading, ok, failures)));
            TestServer a2 = null;
            TestServer b2 = null;
            ServerRegistration ra2 = null;
            ServerRegistration rb2 = null;
            try {
                callUntil(channel, "a");
                callUntil(channel, "b");
                load.forEach(Thread::start);

                ra.close(); // deregister, drain, shut down gracefully
                assertThat(a.server.isTerminated()).isTrue();
                a2 = setup.startServer("a2", Duration.ofMillis(2));
                ra2 = register(setup, servers, service, a2, Duration.ZERO);
                TestServer started = a2;
                await().atMost(Duration.ofSeconds(5)).until(() -> started.calls.get() > 0);

                rb.close();
                b2 = setup.startServer("b2", Duration.ofMillis(2));
                rb2 = register(setup, servers, service, b2, Duration.ZERO);
                TestServer started2 = b2;
                await().atMost(Duration.ofSeconds(5)).until(() -> started2.calls.get() > 0);
            } finally {
                loading.set(false);
                for (Thread thread : load) {
                    thread.join(10_000);
                }
                close(channel);
                for (ServerRegistration r : new ServerRegistration[] {ra, rb, ra2, rb2}) {
                    if (r != null) {
                        r.close();
                    }
                }
            }
            assertThat(failures).isEmpty();
            assertThat(ok.get()).isGreaterThan(50);
        }
    }

    private static ServerRegistration register(Setup setup, Registry registry, String service, TestServer server,
            Duration drain) {
        ServerRegistration.Builder builder = ServerRegistration.builder(registry, server.server, service)
                .id(server.id).version("v1").drain(drain).grace(Duration.ofSeconds(5));
        if (setup.inProcess) {
            builder.endpoint(server.endpoint); // an in-process server has no network socket to derive it from
        }
        ServerRegistration registration = builder.register();
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
}
