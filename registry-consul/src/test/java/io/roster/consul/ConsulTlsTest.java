package io.roster.consul;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.Inspection;
import io.roster.spi.RegistryUri;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** TLS to the agent: CA file, mutual TLS with each PEM key form, bad settings. */
class ConsulTlsTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    private <R extends Registry> R track(R registry) {
        return opened.track(registry);
    }

    static Path tls(String file) {
        try {
            return Path.of(ConsulTlsTest.class.getResource("/tls/" + file).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void httpsWithTheCaFile() throws Exception {
        try (ConsulStandIn consul = ConsulStandIn.builder()
                .tls(ConsulTls.context(tls("ca.pem"), tls("server.pem"), tls("server-key.pem")), false).start()) {
            String service = TestInstances.serviceName("https");
            ServiceInstance instance = TestInstances.of(service, "s");
            Registry registry = track(ConsulFixture.registry(consul.address()).caFile(tls("ca.pem")).build());
            assertThat(registry.toString()).contains("https://" + consul.address());

            registry.register(instance);

            Registry byUri = track(Registries.open("consul://" + consul.address() + "?caFile=" + tls("ca.pem")));
            try (Watcher watcher = byUri.watch(service)) {
                assertThat(watcher.next(BOUND)).contains(List.of(instance));
            }
        }
    }

    @Test
    void anAgentWhoseCertificateIsNotTrustedIsRefused() throws Exception {
        try (ConsulStandIn consul = ConsulStandIn.builder()
                .tls(ConsulTls.context(tls("ca.pem"), tls("server.pem"), tls("server-key.pem")), false).start()) {
            Registry registry = track(ConsulFixture.registry(consul.address()).caFile(tls("other-ca.pem"))
                    .build());

            assertThatThrownBy(() -> registry.register(TestInstances.of(TestInstances.serviceName("x"), "x")))
                    .isInstanceOf(RegistryUnavailableException.class)
                    .hasMessageContaining("PKIX path building failed");
        }
    }

    @ParameterizedTest
    @CsvSource({"client-rsa.pem, client-rsa-pkcs8-key.pem", "client-rsa.pem, client-rsa-pkcs1-key.pem",
            "client-ec.pem, client-ec-sec1-key.pem"})
    void mutualTlsWithEveryKeyForm(String cert, String key) throws Exception {
        try (ConsulStandIn consul = ConsulStandIn.builder()
                .tls(ConsulTls.context(tls("ca.pem"), tls("server.pem"), tls("server-key.pem")), true).start()) {
            String service = TestInstances.serviceName("mtls");
            Registry withCert = track(ConsulFixture.registry(consul.address()).caFile(tls("ca.pem"))
                    .clientCertificate(tls(cert), tls(key)).build());
            Registry withoutCert = track(ConsulFixture.registry(consul.address()).caFile(tls("ca.pem")).build());

            withCert.register(TestInstances.of(service, "m"));

            assertThat(withCert.getService(service)).hasSize(1);
            assertThatThrownBy(() -> withoutCert.getService(service))
                    .isInstanceOf(RegistryUnavailableException.class);
        }
    }

    @Test
    void theRawInspectorSpeaksMutualTlsWithTheUrisCertificate() throws Exception {
        try (ConsulStandIn consul = ConsulStandIn.builder()
                .tls(ConsulTls.context(tls("ca.pem"), tls("server.pem"), tls("server-key.pem")), true).start()) {
            String service = TestInstances.serviceName("mtls-inspect");
            String uri = "consul://" + consul.address() + "?caFile=" + tls("ca.pem") + "&certFile="
                    + tls("client-rsa.pem") + "&keyFile=" + tls("client-rsa-pkcs8-key.pem");
            Registry registry = track(Registries.open(uri));
            registry.register(TestInstances.of(service, "m"));

            Inspection inspection = new ConsulInspector().inspect(registry, RegistryUri.parse(URI.create(uri)),
                    service);

            assertThat(inspection.raw()).isTrue();
            assertThat(inspection.records()).extracting(Inspection.Record::service).containsExactly(service);
            String withoutCert = "consul://" + consul.address() + "?caFile=" + tls("ca.pem");
            assertThatThrownBy(() -> new ConsulInspector().inspect(registry, RegistryUri.parse(URI.create(
                    withoutCert)), service)).isInstanceOf(RegistryUnavailableException.class);
        }
    }

    @Test
    void badTlsSettingsAreRejectedNamingTheOption(@TempDir Path dir) throws IOException {
        Path notPem = Files.writeString(dir.resolve("not.pem"), "hello");
        Path encrypted = Files.writeString(dir.resolve("enc.pem"),
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        assertOption(b -> b.caFile(dir.resolve("missing.pem")), "caFile", "cannot be read");
        assertOption(b -> b.caFile(notPem), "caFile", "is not a PEM certificate file");
        assertOption(b -> b.clientCertificate(tls("client-rsa.pem"), tls("client-ec-sec1-key.pem")), "keyFile",
                "is not the private key of certFile");
        assertOption(b -> b.clientCertificate(tls("client-ec.pem"), tls("client-rsa-pkcs8-key.pem")), "keyFile",
                "holds a PRIVATE KEY that is not a valid EC key");
        assertOption(b -> b.clientCertificate(tls("client-rsa.pem"), tls("server-key.pem")), "keyFile",
                "is not the private key of certFile");
        assertOption(b -> b.clientCertificate(tls("client-rsa.pem"), encrypted), "keyFile",
                "ENCRYPTED PRIVATE KEY");
        assertOption(b -> b.clientCertificate(tls("client-rsa.pem"), notPem), "keyFile", "no PEM private key");
        assertOption(b -> b.tls(false).caFile(tls("ca.pem")), "tls", "is false but caFile");
        assertOption(b -> b.address("http://127.0.0.1:8501").tls(true), "tls", "is on but the address is http");
        assertThatThrownBy(() -> Registries.open("consul://127.0.0.1?certFile=" + tls("client-rsa.pem")))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("'certFile' must be given together with keyFile");
        assertThat(ConsulRegistry.builder().tls(true).config().agent().toString())
                .as("Consul's HTTPS port by default").isEqualTo("https://127.0.0.1:8501/");
    }

    private static void assertOption(UnaryOperator<ConsulRegistry.Builder> settings, String option,
                              String text) {
        assertThatThrownBy(() -> settings.apply(ConsulRegistry.builder()).build())
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining(text)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option));
    }
}
