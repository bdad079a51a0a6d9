package io.roster.etcd;

import io.roster.testkit.EtcdServer;
import io.etcd.jetcd.Auth;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.auth.Permission;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.RegistryUri;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * TLS (server certificate, then client certificates) and user/password auth against real etcd servers, with
 * certificates generated here. Wrong credentials fail as access denied; passwords never show, not even in logs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EtcdSecurityTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final String APP_PASSWORD = "app-pw-" + UUID.randomUUID();
    private static final String ROOT_PASSWORD = "root-pw-" + UUID.randomUUID();
    private static final String WRONG_PASSWORD = "wrong-pw-" + UUID.randomUUID();
    /** Every text a user could see: messages, toString()s. Checked for passwords at the end. */
    private static final List<String> shown = new ArrayList<>();
    private static Path dir;
    private static TestCertificates certs;
    private static EtcdServer tls;
    private static EtcdServer mutualTls;
    private static EtcdServer auth;

    @BeforeAll
    static void start() throws Exception {
        dir = Files.createTempDirectory("roster-etcd-certs-");
        certs = TestCertificates.create(dir);
        String cert = certs.serverCert.toString();
        String key = certs.serverKey.toString();
        // etcd 3.4: --trusted-ca-file alone already demands client certificates, so server-only TLS leaves it out.
        tls = EtcdServer.start(true, "--cert-file", cert, "--key-file", key);
        mutualTls = EtcdServer.start(true, "--cert-file", cert, "--key-file", key, "--client-cert-auth",
                "--trusted-ca-file", certs.ca.toString());
        auth = EtcdServer.start();
        enableAuth();
    }

    /** Root as etcd requires, and user {@code app} allowed to read and write {@code /microservices/} only. */
    private static void enableAuth() throws Exception {
        try (Client plain = EtcdTests.client(auth)) {
            Auth api = plain.getAuthClient();
            api.userAdd(bytes("root"), bytes(ROOT_PASSWORD)).get(10, TimeUnit.SECONDS);
            api.roleAdd(bytes("root")).get(10, TimeUnit.SECONDS);
            api.userGrantRole(bytes("root"), bytes("root")).get(10, TimeUnit.SECONDS);
            api.userAdd(bytes("app"), bytes(APP_PASSWORD)).get(10, TimeUnit.SECONDS);
            api.roleAdd(bytes("app")).get(10, TimeUnit.SECONDS);
            api.roleGrantPermission(bytes("app"), bytes("/microservices/"), bytes("/microservices0"),
                    Permission.Type.READWRITE).get(10, TimeUnit.SECONDS);
            api.userGrantRole(bytes("app"), bytes("app")).get(10, TimeUnit.SECONDS);
            api.authEnable().get(10, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        Stream.of(tls, mutualTls, auth).filter(java.util.Objects::nonNull).forEach(EtcdServer::close);
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Test
    @Order(1)
    void tlsVerifiedWithTheGivenCa() throws Exception {
        assertWorks("etcd://" + tls.endpoint() + "?ttl=5s&caFile=" + certs.ca);
    }

    @Test
    @Order(2)
    void tlsFailsWhenTheServerIsNotTrustedOrNotSpokenTo() {
        assertFails("etcd://" + tls.endpoint() + "?tls=true&timeout=1s", RegistryUnavailableException.class);
        assertFails("etcd://" + tls.endpoint() + "?timeout=1s", RegistryUnavailableException.class);
    }

    @Test
    @Order(3)
    void clientCertificatesWhenEtcdDemandsThem() throws Exception {
        assertWorks("etcd://" + mutualTls.endpoint() + "?ttl=5s&caFile=" + certs.ca + "&certFile=" + certs.clientCert
                + "&keyFile=" + certs.clientKey);
        assertFails("etcd://" + mutualTls.endpoint() + "?timeout=1s&caFile=" + certs.ca,
                RegistryUnavailableException.class);
    }

    @Test
    @Order(4)
    void userAndPassword() throws Exception {
        assertWorks("etcd://" + auth.endpoint() + "?ttl=5s&user=app&password=" + APP_PASSWORD);
        assertWorks("etcd://app:" + APP_PASSWORD + "@" + auth.endpoint() + "?ttl=5s");
    }

    @Test
    @Order(5)
    void wrongPasswordIsAccessDeniedWithAClearMessage() {
        RegistryException e = assertFails("etcd://" + auth.endpoint() + "?user=app&password=" + WRONG_PASSWORD,
                RegistryAccessDeniedException.class);
        assertThat(e).hasMessageContaining("refused the credentials").hasMessageContaining("authentication failed");
        assertFails("etcd://nobody:" + WRONG_PASSWORD + "@" + auth.endpoint(), RegistryAccessDeniedException.class);
    }

    @Test
    @Order(6)
    void missingCredentialsOrPermissionsAreAccessDenied() {
        assertFails("etcd://" + auth.endpoint(), RegistryAccessDeniedException.class);
        // app may use /microservices only
        assertFails("etcd://" + auth.endpoint() + "/elsewhere?user=app&password=" + APP_PASSWORD,
                RegistryAccessDeniedException.class);
    }

    @Test
    @Order(Integer.MAX_VALUE)
    void passwordsNeverShowInMessagesToStringsOrLogs() throws Exception {
        String uri = "etcd://" + auth.endpoint() + "?user=app&password=" + APP_PASSWORD;
        try (Registry registry = Registries.open(uri)) {
            shown.add(registry.toString());
        }
        shown.add(RegistryUri.parse(URI.create(uri)).toString());
        shown.add(RegistryUri.parse(URI.create("etcd://app:" + APP_PASSWORD + "@h:2379")).toString());
        shown.add(EtcdRegistry.builder().endpoints(auth.endpoint()).credentials("app", APP_PASSWORD).toString());
        assertThat(shown).isNotEmpty().allSatisfy(text -> assertThat(text)
                .doesNotContain(APP_PASSWORD).doesNotContain(WRONG_PASSWORD).doesNotContain(ROOT_PASSWORD));

        String log = Files.readString(Path.of("target/etcd-tests.log"), StandardCharsets.UTF_8);
        assertThat(log).as("the test log, where io.roster logs at debug")
                .contains("user=app, password=***") // the options of each registry are logged, redacted
                .doesNotContain(APP_PASSWORD).doesNotContain(WRONG_PASSWORD).doesNotContain(ROOT_PASSWORD);
    }

    /** Register, discover and watch through a registry opened on the URI. */
    private static void assertWorks(String uri) throws Exception {
        String service = TestInstances.serviceName("secure");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (Registry registry = Registries.open(uri); Registry observer = Registries.open(uri);
             Watcher watcher = observer.watch(service)) {
            shown.add(registry.toString());
            registry.register(instance);
            assertThat(observer.getService(service)).containsExactly(instance);
            Watching.awaitIds(watcher, BOUND, Set.of("a"));
        }
    }

    /** Registering, discovering and watching all fail with the given exception; nothing is left open. */
    private static <E extends RegistryException> RegistryException assertFails(String uri, Class<E> type) {
        String service = TestInstances.serviceName("refused");
        List<RegistryException> failures = new ArrayList<>();
        try (Registry registry = Registries.open(uri)) {
            shown.add(registry.toString());
            for (Supplier<Object> call : List.<Supplier<Object>>of(
                    () -> { registry.register(TestInstances.of(service, "a")); return null; },
                    () -> registry.getService(service),
                    () -> registry.watch(service))) {
                assertThatThrownBy(call::get).isInstanceOf(type).satisfies(e -> {
                    failures.add((RegistryException) e);
                    shown.add(e.getMessage());
                    shown.add(e.toString());
                });
            }
        }
        return failures.get(0);
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }
}
