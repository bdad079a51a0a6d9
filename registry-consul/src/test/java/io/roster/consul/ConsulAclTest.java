package io.roster.consul;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

/** ACL tokens: sent on every request, refused clearly, never shown. */
class ConsulAclTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final String WRITE_TOKEN = "write-secret-1f2e3d4c";
    private static final String READ_TOKEN = "read-secret-9a8b7c6d";
    private static final String WRONG_TOKEN = "wrong-secret-77c1aa90";

    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder()
            .acl(Set.of(WRITE_TOKEN), Set.of(READ_TOKEN)).build();

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    private <R extends Registry> R track(R registry) {
        return opened.track(registry);
    }

    private ConsulRegistry.Builder registry() {
        return ConsulFixture.registry(consul.address());
    }

    @Test
    void withoutATokenRegistrationFailsClearlyAndNothingIsWritten() {
        ConsulRegistry registry = track(registry().build());
        ServiceInstance instance = TestInstances.of(TestInstances.serviceName("anonymous"), "a");

        assertThatThrownBy(() -> registry.register(instance))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("consul at http://" + consul.address() + " refused to register "
                        + instance.name() + "/a")
                .hasMessageContaining("HTTP 403 Permission denied")
                .hasMessageContaining("check the ACL token (option 'token'), none was given");
        assertThat(consul.hasService("a")).isFalse();
        assertThat(registry.getService(instance.name())).as("anonymous reads are filtered").isEmpty();
    }

    @Test
    void aWrongTokenIsRefusedEverywhere() {
        ConsulRegistry registry = track(registry().token(WRONG_TOKEN).build());
        String service = TestInstances.serviceName("wrong");

        assertThatThrownBy(() -> registry.register(TestInstances.of(service, "w")))
                .isInstanceOf(RegistryAccessDeniedException.class).hasMessageContaining("ACL not found")
                .hasMessageNotContaining("none was given");
        assertThatThrownBy(() -> registry.getService(service)).isInstanceOf(RegistryAccessDeniedException.class);
        assertThatThrownBy(() -> registry.watch(service)).isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("refused to watch service '" + service + "'");
        assertThat(consul.hasService("w")).isFalse();
    }

    @Test
    void theRightTokenGoesWithEveryRequest() throws Exception {
        ConsulRegistry registry = track(registry().token(WRITE_TOKEN).build());
        String service = TestInstances.serviceName("right");
        ServiceInstance instance = TestInstances.of(service, "r");

        registry.register(instance);
        try (Watcher watcher = track(registry().token(WRITE_TOKEN).build()).watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("r"));
            registry.deregister(instance);
            Watching.awaitIds(watcher, BOUND, Set.of());
        }
        assertThat(consul.queries(service)).isNotEmpty().allSatisfy(q -> assertThat(q.hadToken).isTrue());
    }

    @Test
    void aReadTokenDiscoversButCannotRegister() throws Exception {
        Registry writer = track(registry().token(WRITE_TOKEN).build());
        Registry reader = track(registry().token(READ_TOKEN).build());
        String service = TestInstances.serviceName("read");
        ServiceInstance instance = TestInstances.of(service, "seen");
        writer.register(instance);

        assertThat(reader.getService(service)).containsExactly(instance);
        try (Watcher watcher = reader.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(instance));
        }
        assertThatThrownBy(() -> reader.register(TestInstances.of(service, "not-allowed")))
                .isInstanceOf(RegistryAccessDeniedException.class).hasMessageContaining("Permission denied");
    }

    @Test
    void aWatchWhoseTokenMayNotReadTheServiceWarnsOnceEvenWhenConsulDoesNotSaySo() throws Exception {
        String blind = "node-only-secret-3c4d5e6f";
        try (ConsulStandIn consul110 = ConsulStandIn.builder().dialect(ConsulStandIn.Dialect.V1_10)
                .acl(Set.of(WRITE_TOKEN), Set.of(READ_TOKEN), Set.of(blind)).start();
             StandardErrorCapture log = StandardErrorCapture.start()) {
            String service = TestInstances.serviceName("hidden");
            track(ConsulFixture.registry(consul110.address()).token(WRITE_TOKEN).build())
                    .register(TestInstances.of(service, "hidden-1"));
            Registry watching = track(ConsulFixture.registry(consul110.address()).token(blind).build());
            Registry reading = track(ConsulFixture.registry(consul110.address()).token(READ_TOKEN).build());

            try (Watcher first = watching.watch(service); Watcher second = watching.watch(service);
                 Watcher allowed = reading.watch(service)) {
                assertThat(first.next(BOUND)).contains(List.of()); // filtered, silently: no header on 1.10
                assertThat(second.next(BOUND)).contains(List.of());
                assertThat(allowed.next(BOUND)).hasValueSatisfying(l -> assertThat(l).hasSize(1));
                String warning = "may not read service '" + service + "' (it lacks service:read)";
                await().atMost(BOUND).until(() -> log.lines(warning) > 0);
                track(ConsulFixture.registry(consul110.address()).token(WRITE_TOKEN).build())
                        .register(TestInstances.of(service, "hidden-2"));
                await().atMost(BOUND).until(() -> reading.getService(service).size() == 2);
                assertThat(first.next(Duration.ofMillis(500))).as("still filtered").isEmpty();
                assertThat(log.lines(warning)).as("once").isEqualTo(1);
                assertThat(log.text()).doesNotContain(blind);
            }
        }
    }

    @Test
    void anEmptyServiceWarnsOfNothingWhenTheTokenMayReadItOrAclsAreOff() throws Exception {
        try (ConsulStandIn plain = ConsulStandIn.builder().dialect(ConsulStandIn.Dialect.V1_10).start();
             StandardErrorCapture log = StandardErrorCapture.start()) {
            String service = TestInstances.serviceName("empty");
            try (Watcher withAcl = track(registry().token(READ_TOKEN).build()).watch(service);
                 Watcher withoutAcl = track(ConsulFixture.registry(plain.address()).build()).watch(service)) {
                assertThat(withAcl.next(BOUND)).contains(List.of());
                assertThat(withoutAcl.next(BOUND)).contains(List.of());
                // Both asked the agent: "may read" and "ACL support disabled".
                await().atMost(BOUND).until(() -> consul.writeTimes("/v1/internal/acl/authorize").size() > 0
                        && plain.writeTimes("/v1/internal/acl/authorize").size() > 0);
            }
            assertThat(log.text()).doesNotContain("lacks service:read");
        }
    }

    @Test
    void theTokenNeverAppearsInLogsMessagesOrToString() throws Exception {
        String uri = "consul://" + consul.address() + "?token=" + WRONG_TOKEN + "&ttl=3s&heartbeat=1s";
        List<Object> shown = new ArrayList<>();
        String logs = capturingStandardError(() -> {
            Registry registry = track(Registries.open(uri));
            String service = TestInstances.serviceName("leak");
            shown.add(registry);
            shown.add(catchThrowable(() -> registry.register(TestInstances.of(service, "l"))));
            shown.add(catchThrowable(() -> registry.getService(service)));
            shown.add(catchThrowable(() -> registry.watch(service)));
            shown.add(catchThrowable(() -> Registries.open(uri + "&colour=blue")));
            shown.add(catchThrowable(() -> Registries.open(uri + "&wait=11m")));
            ConsulRegistry.Builder builder = ConsulRegistry.builder().token(WRONG_TOKEN);
            shown.add(builder);
            shown.add(builder.config());
            registry.close();
        });

        assertThat(logs).as("the capture works").contains("watching service").contains("ACL not found");
        assertThat(logs).doesNotContain(WRONG_TOKEN);
        for (Object o : shown) {
            assertThat(o).isNotNull();
            assertThat(o.toString()).doesNotContain(WRONG_TOKEN);
            for (Throwable t = o instanceof Throwable ? (Throwable) o : null; t != null; t = t.getCause()) {
                assertThat(String.valueOf(t.getMessage())).doesNotContain(WRONG_TOKEN);
            }
        }
        assertThat(shown.get(4).toString()).contains("unknown consul option 'colour'");
        assertThat(shown.get(6).toString()).contains("token=***");
    }

    /** Runs the code with standard error (where slf4j-simple logs) also copied into a buffer. */
    private static String capturingStandardError(Runnable code) {
        try (StandardErrorCapture capture = StandardErrorCapture.start()) {
            code.run();
            return capture.text();
        }
    }
}
