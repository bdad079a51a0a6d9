package io.roster.consul;

import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Keepalive and recovery: TTL heartbeats, re-registration after the agent forgets everything, expiry of a
 * registry that stopped heartbeating, outages, and TCP checks.
 */
class ConsulKeepaliveTest {
    private static final Duration TTL = Duration.ofSeconds(4);
    private static final Duration HEARTBEAT = Duration.ofMillis(1500);
    private static final Duration BOUND = Duration.ofSeconds(10);

    // A fast reaper so that DeregisterCriticalServiceAfter can be seen within a test (Consul: 30 s, at least 1 min).
    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder()
            .reaper(Duration.ofMillis(250), Duration.ofSeconds(1)).build();

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();


    private ConsulRegistry open(ConsulRegistry.Builder builder) {
        return opened.track(builder.build());
    }

    private ConsulRegistry.Builder registry() {
        return ConsulRegistry.builder().address(consul.address()).ttl(TTL).heartbeat(HEARTBEAT);
    }

    @Test
    void anAgentThatForgotEverythingHasEveryInstanceBackWithinTwoHeartbeats() throws Exception {
        ConsulRegistry registrar = open(registry());
        Registry observer = open(registry());
        String service = TestInstances.serviceName("restart");
        List<ServiceInstance> instances = IntStream.range(0, 3)
                .mapToObj(i -> TestInstances.of(service, "i-" + i)).collect(Collectors.toList());
        instances.forEach(registrar::register);
        Set<String> ids = Set.of("i-0", "i-1", "i-2");
        List<String> firstPayloads = consul.registrations();
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, ids);

            consul.restart();

            await().atMost(HEARTBEAT.multipliedBy(2))
                    .until(() -> ids.stream().allMatch(id -> "passing".equals(consul.checkStatus("service:" + id))));
            // The watcher may have seen the empty agent in between, or not (A, empty, A wakes nobody): either way it
            // settles on the three instances.
            List<ServiceInstance> last = instances;
            for (Optional<List<ServiceInstance>> next = watcher.next(HEARTBEAT); next.isPresent();
                 next = watcher.next(HEARTBEAT)) {
                last = next.get();
            }
            assertThat(last).containsExactlyElementsOf(instances);
        }
        try (Watcher fresh = open(registry()).watch(service)) {
            assertThat(fresh.next(BOUND)).contains(instances);
        }
        assertThat(observer.getService(service)).containsExactlyElementsOf(instances);
        List<String> again = consul.registrations();
        assertThat(again.subList(firstPayloads.size(), again.size())).as("the whole payload, again")
                .containsAll(instances.stream().map(i -> ConsulFormat.registration(i, registry().config().checks()))
                        .collect(Collectors.toList()));
    }

    @Test
    void aRegistrationRemovedBehindOurBackComesBack() {
        ConsulRegistry registrar = open(registry());
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("forgotten"), "one");
        registrar.register(instance);

        consul.forget(instance.id());

        await().atMost(HEARTBEAT.multipliedBy(2)).until(() -> "passing".equals(consul.checkStatus("service:one")));
        assertThat(registrar.getService(instance.name())).containsExactly(instance);
    }

    @Test
    void aRegistryThatStopsHeartbeatingLeavesPassingDiscoveryAfterItsTtl() {
        ConsulRegistry victim = open(registry().deregisterCriticalServiceAfter(Duration.ofSeconds(3)));
        Registry passing = open(registry());
        Registry all = open(registry().passingOnly(false));
        String service = TestInstances.serviceName("dead");
        ServiceInstance instance = TestInstances.of(service, "victim");
        victim.register(instance);
        assertThat(passing.getService(service)).containsExactly(instance);

        long killed = System.nanoTime();
        victim.kill();

        await().atMost(TTL.plusSeconds(3)).until(() -> passing.getService(service).isEmpty());
        Duration gone = Duration.ofNanos(System.nanoTime() - killed);
        assertThat(gone).as("not before the TTL since the last heartbeat").isGreaterThan(TTL.minus(HEARTBEAT));
        assertThat(all.getService(service)).as("critical, not yet reaped").containsExactly(instance);
        // DeregisterCriticalServiceAfter (here 3 s) then removes it altogether.
        await().atMost(BOUND).until(() -> all.getService(service).isEmpty());
        assertThat(consul.hasService("victim")).isFalse();
    }

    @Test
    void anOutageKeepsWatchedListsAndEverythingResumes() throws Exception {
        ConsulRegistry registrar = open(registry());
        ConsulRegistry observer = open(registry());
        ConsulRegistry bystander = open(registry());
        String service = TestInstances.serviceName("outage");
        ServiceInstance a = TestInstances.of(service, "a");
        registrar.register(a);
        try (Watcher watcher = observer.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("a"));

            consul.stop();
            try {
                assertThat(watcher.next(HEARTBEAT)).as("nothing pushed during an outage").isEmpty();
                assertThat(observer.getService(service)).as("the watched list").containsExactly(a);
                assertThatThrownBy(() -> bystander.getService(service))
                        .isInstanceOf(RegistryUnavailableException.class)
                        .hasMessageContaining(consul.address());
            } finally {
                consul.start();
            }

            ServiceInstance b = TestInstances.of(service, "b");
            await().atMost(BOUND).ignoreExceptions().untilAsserted(() -> registrar.register(b));
            Watching.awaitIds(watcher, BOUND, Set.of("a", "b"));
        }
    }

    @Test
    void anInstanceDeregisteredDuringAnOutageNeverComesBack() {
        ConsulRegistry registrar = open(registry());
        String service = TestInstances.serviceName("gone");
        ServiceInstance keep = TestInstances.of(service, "keep");
        ServiceInstance drop = TestInstances.of(service, "drop");
        registrar.register(keep);
        registrar.register(drop);

        consul.stop();
        assertThatThrownBy(() -> registrar.deregister(drop)).isInstanceOf(RegistryUnavailableException.class);
        consul.restart(); // back, empty

        await().atMost(HEARTBEAT.multipliedBy(2)).until(() -> consul.hasService("keep"));
        await().during(HEARTBEAT.multipliedBy(2)).atMost(HEARTBEAT.multipliedBy(3))
                .until(() -> !consul.hasService("drop"));
        assertThat(registrar.getService(service)).containsExactly(keep);
    }

    @Test
    void anInstanceDeregisteredWhileAServerAgentIsDownIsGoneWhenItComesBackWithItsState() {
        ConsulRegistry registrar = open(registry());
        Registry all = open(registry().passingOnly(false));
        String service = TestInstances.serviceName("down");
        ServiceInstance keep = TestInstances.of(service, "down-keep");
        ServiceInstance drop = TestInstances.of(service, "down-drop");
        registrar.register(keep);
        registrar.register(drop);

        consul.stop(); // a server-mode agent going down, its state on disk
        assertThatThrownBy(() -> registrar.deregister(drop)).isInstanceOf(RegistryUnavailableException.class);
        consul.restartWithState(); // it comes back with drop (critical once its TTL runs out, until reaped)

        await().atMost(BOUND).until(() -> !consul.hasService("down-drop"));
        assertThat(all.getService(service)).containsExactly(keep);
        assertThat(consul.checkStatus("service:down-keep")).isEqualTo("passing");
    }

    @Test
    void aPendingDeregistrationNeverRemovesALaterRegistrationOfTheSameId() {
        ConsulRegistry registrar = open(registry().timeout(Duration.ofSeconds(3)));
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("again"), "again-1");
        registrar.register(instance);
        consul.stop();
        assertThatThrownBy(() -> registrar.deregister(instance)).isInstanceOf(RegistryUnavailableException.class);
        // When it is back, the agent holds the postponed deregistration unanswered for a while...
        consul.hang(request -> request.equals("PUT /v1/agent/service/deregister/again-1"));
        consul.start();
        try {
            await().atMost(BOUND).until(() -> consul.hangingRequests() == 1);
            // ...during which the same id is registered again: that registration must stand.
            registrar.register(instance);
        } finally {
            consul.hang(null);
        }

        await().during(HEARTBEAT.multipliedBy(2)).atMost(BOUND)
                .until(() -> "passing".equals(consul.checkStatus("service:again-1")));
        assertThat(registrar.getService(instance.name())).containsExactly(instance);
    }

    @Test
    void namesAndIdsWithReservedCharactersArePercentEncoded() throws Exception {
        ConsulRegistry registry = open(registry());
        String service = TestInstances.serviceName("q?x#y%z&ü");
        ServiceInstance odd = TestInstances.of(service, "id with spaces?&=%2F é");
        registry.register(odd);

        assertThat(consul.checkStatus("service:" + odd.id())).isEqualTo("passing");
        assertThat(registry.getService(service)).containsExactly(odd);
        try (Watcher watcher = open(registry()).watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(odd));
            registry.deregister(odd);
            Watching.awaitIds(watcher, BOUND, Set.of());
        }
    }

    @Test
    void oneSchedulerThreadKeepsManyInstancesAlivePastTheirTtl() throws Exception {
        Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
        ConsulRegistry registrar = open(registry());
        String service = TestInstances.serviceName("many");
        IntStream.range(0, 20).forEach(i -> registrar.register(TestInstances.of(service, "i-" + i)));

        // A TTL and more later every check is still passing: heartbeats went out.
        try (Watcher watcher = open(registry()).watch(service)) {
            Watching.awaitList(watcher, BOUND, "20 instances", l -> l.size() == 20);
            assertThat(watcher.next(TTL.plus(HEARTBEAT))).as("no instance expired").isEmpty();
        }
        assertThat(IntStream.range(0, 20).mapToObj(i -> consul.checkStatus("service:i-" + i)))
                .containsOnly("passing");
        List<String> schedulers = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !before.contains(t) && t.getName().startsWith("roster-consul-scheduler"))
                .map(Thread::getName).collect(Collectors.toList());
        assertThat(schedulers).as("one scheduler thread per registry, whatever the instances; two registries")
                .hasSizeBetween(1, 2);
    }

    @Test
    void tcpChecksMakeAnInstanceWithAnUnreachableEndpointCritical() throws IOException {
        ConsulRegistry registrar = open(registry().tcpCheck(true));
        Registry passing = open(registry());
        Registry all = open(registry().passingOnly(false));
        String service = TestInstances.serviceName("tcp");
        try (ServerSocket listening = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            ServiceInstance up = ServiceInstance.builder().name(service).id("up")
                    .endpoint("grpc://127.0.0.1:" + listening.getLocalPort()).build();
            ServiceInstance down = TestInstances.of(service, "down"); // nothing listens on its ports
            registrar.register(up);
            registrar.register(down);

            assertThat(consul.registrations()).anySatisfy(body -> assertThat(body)
                    .contains("\"ID\":\"up\"", "\"TCP\":\"127.0.0.1:" + listening.getLocalPort() + "\""));
            await().atMost(BOUND).until(() -> passing.getService(service).equals(List.of(up)));
            assertThat(all.getService(service)).containsExactly(down, up);
            assertThat(consul.checkStatus("service:down")).as("its TTL check passes").isEqualTo("passing");
        }
    }
}
