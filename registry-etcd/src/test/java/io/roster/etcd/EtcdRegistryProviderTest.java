package io.roster.etcd;

import io.etcd.jetcd.Client;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** URI and builder options: defaults, every rule, and secrets kept out of messages. No server needed. */
class EtcdRegistryProviderTest {

    @Test
    void opensWithDefaultsWithoutContactingEtcd() {
        assertThat(Registries.schemes()).contains("etcd");
        // Nothing listens on port 1: opening and closing must not need the server.
        try (Registry registry = Registries.open("etcd://127.0.0.1:1")) {
            assertThat(registry).isInstanceOf(EtcdRegistry.class)
                    .hasToString("EtcdRegistry{etcd at 127.0.0.1:1/microservices}");
        }
        try (Registry registry = Registries.open("etcd://10.0.0.1,10.0.0.2:2380/services/?ttl=30s&timeout=2s")) {
            assertThat(registry.toString()).contains("etcd at 10.0.0.1:2379,10.0.0.2:2380/services}");
        }
    }

    @Test
    void badOptionsFailNamingTheOption() {
        assertOption("etcd://h:2379?ttl=1500ms", "ttl", "whole seconds");
        assertOption("etcd://h:2379?ttl=500ms", "ttl", "at least 1s");
        assertOption("etcd://h:2379?ttl=0s", "ttl", "positive");
        assertOption("etcd://h:2379?timeout=soon", "timeout", "duration");
        assertOption("etcd://h:2379?tls=maybe", "tls", "true or false");
        assertOption("etcd://h:2379?maxRequestBytes=1k", "maxRequestBytes", "integer");
        assertOption("etcd://h:2379?maxRequestBytes=100", "maxRequestBytes", "at least 4096");
        assertOption("etcd://h:2379?tll=15s", "tll", "known options: caFile, certFile, keyFile, maxRequestBytes, password, timeout, tls, ttl, user");
        assertOption("etcd://h:2379?certFile=/x.pem", "keyFile", "go together");
        assertOption("etcd://h:2379?caFile=/does/not/exist.pem", "caFile", "no readable file");
        assertOption("etcd://h:2379?password=x", "user", "must not be blank");
        assertOption("etcd://app@h:2379", "password", "must not be empty");
        assertOption("etcd://app:x@h:2379?user=app", "user", "twice");
        assertOption("etcd:///microservices", "hosts", "at least one host");
        assertOption("etcd://h:port", "endpoints", "host:port");
        assertOption("etcd://h:2379/micro%20services", "namespace", "whitespace");
    }

    @Test
    void unusableCertificateFilesFailNamingTheOption(@TempDir Path dir) throws Exception {
        Path notPem = Files.writeString(dir.resolve("ca.pem"), "not a certificate");
        assertOption("etcd://h:2379?caFile=" + notPem, "caFile", "PEM expected");
    }

    @Test
    void secretsStayOutOfMessages() {
        String secret = "s3cr3t-" + System.nanoTime();
        assertThatThrownBy(() -> Registries.open("etcd://app:" + secret + "@h:2379?ttl=bad"))
                .isInstanceOf(InvalidOptionException.class).message().doesNotContain(secret);
        assertThatThrownBy(() -> Registries.open("etcd://h:2379?user=app&password=" + secret + "&bogus=1"))
                .isInstanceOf(InvalidOptionException.class).message().doesNotContain(secret);
        EtcdRegistry.Builder builder = EtcdRegistry.builder().endpoints("h:2379").credentials("app", secret);
        assertThat(builder.toString()).contains("user=app").contains("password=***").doesNotContain(secret);
        try (Registry registry = builder.build()) {
            assertThat(registry.toString()).doesNotContain(secret);
        }
    }

    @Test
    void builderRules() {
        assertThatThrownBy(() -> EtcdRegistry.builder().build()).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("at least one endpoint");
        try (Client client = Client.builder().endpoints("http://127.0.0.1:1").build()) {
            assertThatThrownBy(() -> EtcdRegistry.builder().client(client).endpoints("h:2379").build())
                    .isInstanceOf(InvalidOptionException.class).hasMessageContaining("own endpoints");
        }
        assertThatThrownBy(() -> EtcdRegistry.builder().timeout(Duration.ZERO))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("timeout");
        assertThat(EtcdRegistry.builder().endpoints("https://h:2379").namespace("/a/b//").toString())
                .contains("namespace=/a/b,").contains("tls=true");
    }

    private static void assertOption(String uri, String option, String rule) {
        assertThatThrownBy(() -> Registries.open(uri)).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining(rule)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option));
    }
}
