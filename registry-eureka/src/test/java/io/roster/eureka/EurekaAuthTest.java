package io.roster.eureka;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A Eureka server behind HTTP basic authentication (Spring Security), as Spring's docs set one up. */
class EurekaAuthTest {
    private static final String USER = "roster";
    private static final String PASSWORD = "s3cret-Pa55";
    private static EurekaTestServer server;

    private final List<Registry> opened = new ArrayList<>();

    @BeforeAll
    static void startServer() {
        server = EurekaTestServer.startSecured(FreePorts.next(), USER, PASSWORD);
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    @AfterEach
    void closeRegistries() {
        opened.forEach(Registry::close);
    }

    private Registry open(String uri) {
        Registry registry = Registries.open(uri);
        opened.add(registry);
        return registry;
    }

    @Test
    void rightCredentialsWork() throws InterruptedException {
        String service = TestInstances.serviceName("auth");
        ServiceInstance instance = TestInstances.of(service, "a-1");
        Registry registrar = open("eureka://" + USER + ":" + PASSWORD + "@127.0.0.1:" + server.port()
                + "/eureka?renew=1s&lease=3s");
        Registry observer = EurekaRegistry.builder().serverUrl(server.url()).credentials(USER, PASSWORD)
                .refreshInterval(Duration.ofMillis(500)).build();
        opened.add(observer);

        registrar.register(instance);

        assertThat(observer.getService(service)).containsExactly(instance);
        try (Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(Duration.ofSeconds(10))).contains(List.of(instance));
        }
        assertThat(registrar.toString()).doesNotContain(PASSWORD);
        assertThat(observer.toString()).doesNotContain(PASSWORD);
    }

    @Test
    void wrongPasswordFailsClearly() {
        String service = TestInstances.serviceName("auth-wrong");
        String wrong = "not-the-Pa55";
        Registry registry = open("eureka://127.0.0.1:" + server.port() + "/eureka?user=" + USER + "&password="
                + wrong);

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
        Registry registry = open("eureka://127.0.0.1:" + server.port() + "/eureka");

        assertThatThrownBy(() -> registry.getService(TestInstances.serviceName("auth-none")))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("no credentials were given");
    }

    @Test
    void credentialsInsideAServerUrlAreRefused() {
        URI withUserInfo = URI.create("http://" + USER + ":" + PASSWORD + "@127.0.0.1:" + server.port() + "/eureka");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(withUserInfo).build())
                .hasMessageContaining("credentials")
                .hasMessageNotContaining(PASSWORD);
    }
}
