package io.roster.eureka;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A Eureka server secured as Spring's docs set one up: HTTPS with its own certificate, and HTTP basic
 * authentication (Spring Security) on every request.
 */
class EurekaSecuredServerTest {
    private static final String USER = "roster";
    /** With an '@', which ends the user info of a URI early for parsers that split at the first one. */
    private static final String PASSWORD = "s3cret@Pa55";
    @TempDir
    static Path keys;
    private static EurekaTestServer server;
    private static SSLContext trusting;

    private final List<Registry> opened = new ArrayList<>();

    @BeforeAll
    static void startServer() throws Exception {
        TestCertificate certificate = TestCertificate.create(keys);
        trusting = certificate.trustingContext();
        server = EurekaTestServer.startSecured(FreePorts.next(), USER, PASSWORD, certificate);
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    @AfterEach
    void closeRegistries() {
        opened.forEach(Registry::close);
    }

    private Registry open(EurekaRegistry.Builder builder) {
        Registry registry = builder.build();
        opened.add(registry);
        return registry;
    }

    private static EurekaRegistry.Builder builder() {
        return EurekaRegistry.builder().serverUrl(server.url()).sslContext(trusting)
                .renewalInterval(Duration.ofSeconds(1)).leaseDuration(Duration.ofSeconds(3))
                .refreshInterval(Duration.ofMillis(500));
    }

    @Test
    void rightCredentialsOverTlsWork() throws InterruptedException {
        String service = TestInstances.serviceName("auth");
        ServiceInstance instance = TestInstances.of(service, "a-1");
        Registry registrar = open(builder().credentials(USER, PASSWORD));
        Registry observer = open(builder().credentials(USER, PASSWORD));

        registrar.register(instance);

        assertThat(server.url().getScheme()).isEqualTo("https");
        assertThat(observer.getService(service)).containsExactly(instance);
        try (Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(Duration.ofSeconds(10))).contains(List.of(instance));
        }
        assertThat(registrar.toString()).doesNotContain(PASSWORD);
    }

    @Test
    void wrongPasswordFailsClearly() {
        String service = TestInstances.serviceName("auth-wrong");
        String wrong = "not-the-Pa55";
        Registry registry = open(builder().credentials(USER, wrong));

        assertThatThrownBy(() -> registry.register(TestInstances.of(service, "w-1")))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("HTTP 401")
                .hasMessageContaining("check the user and password")
                .hasMessageNotContaining(wrong);
        assertThatThrownBy(() -> registry.getService(service))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageNotContaining(wrong);
        assertThat(registry.toString()).doesNotContain(wrong);
    }

    @Test
    void missingCredentialsAreNamed() {
        Registry registry = open(builder());

        assertThatThrownBy(() -> registry.getService(TestInstances.serviceName("auth-none")))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("no credentials were given");
    }

    @Test
    void untrustedCertificateFailsClearly() {
        // The URI form uses the JVM's trust store, which does not know the test certificate.
        Registry registry = Registries.open("eureka://" + USER + ":" + PASSWORD + "@127.0.0.1:" + server.port()
                + "/eureka?tls=true");
        opened.add(registry);

        assertThatThrownBy(() -> registry.register(TestInstances.of(TestInstances.serviceName("tls"), "t-1")))
                .isInstanceOf(RegistryUnavailableException.class)
                .hasMessageContaining("https://127.0.0.1:" + server.port() + "/eureka")
                .hasMessageContaining("SSLHandshakeException")
                .hasMessageNotContaining(PASSWORD);
    }

    /**
     * A password with an '@', given in the URI form: nothing the registry says (messages, {@code toString()},
     * logs, at every level the tests enable) shows it, while it works and while it fails.
     */
    @Test
    void passwordWithAnAtSignIsNeverShown() throws InterruptedException {
        String service = TestInstances.serviceName("auth-at");
        try (LogCapture logs = new LogCapture()) {
            Registry registry = open(builder().credentials(USER, PASSWORD));
            registry.register(TestInstances.of(service, "a-1"));
            try (Watcher watcher = registry.watch(service)) {
                assertThat(watcher.next(Duration.ofSeconds(10))).isPresent();
            }
            assertThat(registry.services()).contains(service);
            registry.close();

            String wrong = "n0t@the-Pa55";
            Registry denied = Registries.open("eureka://" + USER + ":" + wrong + "@127.0.0.1:" + server.port()
                    + "/eureka?tls=true&timeout=1s");
            opened.add(denied);
            assertThatThrownBy(() -> denied.getService(service)).hasMessageNotContaining(wrong)
                    .hasMessageNotContaining("the-Pa55");
            assertThat(denied.toString()).doesNotContain("the-Pa55");
            denied.close();

            // It did log (the failed read, at DEBUG), just not the password.
            assertThat(logs.text()).doesNotContain("Pa55").contains(EurekaInstances.app(service));
        }
    }

    @Test
    void credentialsInsideAServerUrlAreRefused() {
        URI withUserInfo = URI.create("https://" + USER + ":" + PASSWORD + "@127.0.0.1:" + server.port()
                + "/eureka");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(withUserInfo).build())
                .hasMessageContaining("credentials")
                .hasMessageNotContaining(PASSWORD);
    }
}
