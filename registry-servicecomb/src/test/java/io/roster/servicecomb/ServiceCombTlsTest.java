package io.roster.servicecomb;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** HTTPS and WSS: a service-center with a self-signed certificate, trusted through {@code caFile}. */
class ServiceCombTlsTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static ServiceCenterStandIn sc;
    private static Path caFile;

    /** The committed test PKI (src/test/resources/tls, see its README): a self-signed certificate for 127.0.0.1. */
    @BeforeAll
    static void startTls() throws Exception {
        Path tls = Path.of(ServiceCombTlsTest.class.getResource("/tls/server.p12").toURI()).getParent();
        caFile = tls.resolve("ca.pem");
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(tls.resolve("server.p12"))) {
            keys.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, "changeit".toCharArray());
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(kmf.getKeyManagers(), null, null);
        sc = ServiceCenterStandIn.builder().minimums(1, 1).tls(context).build().start();
    }

    @AfterAll
    static void stop() {
        if (sc != null) {
            sc.close();
        }
    }

    @Test
    void registersAndWatchesOverHttpsAndWss() throws Exception {
        String service = TestInstances.serviceName("tls");
        ServiceInstance instance = TestInstances.of(service, "t-1");
        String uri = "servicecomb://" + sc.address() + "?tls=true&caFile=" + caFile + "&heartbeat=1s&times=2";
        try (Registry registrar = Registries.open(uri); ServiceCombRegistry observer =
                (ServiceCombRegistry) Registries.open(uri); Watcher watcher = observer.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of());
            registrar.register(instance);
            Watching.awaitIds(watcher, BOUND, Set.of("t-1"));
            assertThat(observer.watchConnected()).as("the wss websocket").isTrue();
            assertThat(observer.getService(service)).containsExactly(instance);
        }
    }

    @Test
    void anUntrustedServerIsRefused() {
        try (Registry registry = Registries.open("servicecomb://" + sc.address() + "?tls=true&timeout=2s")) {
            assertThatThrownBy(() -> registry.getService("anything")).isInstanceOf(RegistryUnavailableException.class);
        }
    }
}
