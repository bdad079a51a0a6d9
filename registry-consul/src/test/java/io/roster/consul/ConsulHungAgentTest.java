package io.roster.consul;

import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * An agent that accepts connections and never answers some or all requests: a hung write stalls nothing else (no
 * lock is held across I/O, re-registration does not run on the thread that passes TTL checks), and everything
 * ends within its timeout.
 */
class ConsulHungAgentTest {
    private static final Duration TTL = Duration.ofSeconds(2);
    private static final Duration HEARTBEAT = Duration.ofMillis(500);
    private static final Duration TIMEOUT = Duration.ofSeconds(3); // longer than the TTL
    private static final Duration BOUND = Duration.ofSeconds(10);

    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder().build();

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    @AfterEach
    void answerAgain() {
        consul.hang(null);
    }

    private ConsulRegistry.Builder registry() {
        return ConsulRegistry.builder().address(consul.address()).ttl(TTL).heartbeat(HEARTBEAT).timeout(TIMEOUT);
    }

    @Test
    void aReRegistrationTheAgentNeverAnswersStallsNoOtherHeartbeatWatchDeregistrationOrClose() throws Exception {
        ConsulRegistry registry = opened.track(registry().build());
        String service = TestInstances.serviceName("hung");
        ServiceInstance lost = TestInstances.of(service, "hung-lost");
        ServiceInstance alive = TestInstances.of(service, "hung-alive");
        ServiceInstance other = TestInstances.of(service, "hung-other");
        registry.register(lost);
        registry.register(alive);
        registry.register(other);
        try (Watcher watcher = registry.watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("hung-lost", "hung-alive", "hung-other"));

            consul.hang(request -> request.equals("PUT /v1/agent/service/register"));
            consul.forget(lost.id()); // its next heartbeat: "unknown check", and a re-registration that hangs
            await().atMost(BOUND).until(() -> consul.hangingRequests() == 1);
            Watching.awaitIds(watcher, BOUND, Set.of("hung-alive", "hung-other"));

            // The other instances' TTL checks keep passing for longer than a TTL and than a request timeout.
            await().during(TIMEOUT.plus(TTL)).atMost(TIMEOUT.plus(TTL).plus(BOUND))
                    .until(() -> "passing".equals(consul.checkStatus("service:hung-alive")));
            // A deregistration goes through at once; the watch sees it.
            long started = System.nanoTime();
            registry.deregister(other);
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(TIMEOUT);
            Watching.awaitIds(watcher, BOUND, Set.of("hung-alive"));
        }

        long closing = System.nanoTime();
        registry.close();
        assertThat(Duration.ofNanos(System.nanoTime() - closing)).as("close, behind one hung write")
                .isLessThan(TIMEOUT.multipliedBy(2).plusSeconds(2));
        assertThat(consul.hasService(alive.id())).isFalse();
    }

    @Test
    void againstAnAgentThatAnswersNothingEveryCallEndsWithinItsTimeoutAndCloseLeavesNothing() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        Duration timeout = Duration.ofSeconds(2);
        ConsulRegistry registry = registry().ttl(Duration.ofSeconds(20)).heartbeat(Duration.ofSeconds(5))
                .timeout(timeout).build();
        String service = TestInstances.serviceName("mute");
        for (int i = 0; i < 5; i++) {
            registry.register(TestInstances.of(service, "mute-" + i));
        }
        Watcher watcher = registry.watch(service);
        assertThat(watcher.next(BOUND)).isPresent();

        consul.hang(request -> true);
        long started = System.nanoTime();
        assertThatThrownBy(() -> registry.register(TestInstances.of(service, "mute-late")))
                .isInstanceOf(RegistryUnavailableException.class);
        assertThat(registry.getService(service)).as("the watched list").hasSize(5);
        long closing = System.nanoTime();
        registry.close();

        assertThat(Duration.ofNanos(closing - started)).as("register, then getService").isLessThan(BOUND);
        assertThat(Duration.ofNanos(System.nanoTime() - closing)).as("close")
                .isLessThan(timeout.multipliedBy(2).plusSeconds(2));
        assertThat(registry.openConnections()).isZero();
        before.assertNoNewThreads(BOUND, ConsulStandIn::isServerThread);
    }
}
