package io.roster.spi;

import io.roster.InvalidOptionException;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RegistryUriTest {

    @Test
    void takesAClusterUriApart() {
        RegistryUri uri = RegistryUri.parse(URI.create(
                "ETCD://root:p%40ss%2Bw0rd@10.0.0.1:2379,10.0.0.2:2379/microservices?ttl=15s&timeout=500ms&tls"));
        assertThat(uri.scheme()).isEqualTo("etcd");
        assertThat(uri.hosts()).containsExactly("10.0.0.1:2379", "10.0.0.2:2379");
        assertThat(uri.user()).contains("root");
        assertThat(uri.password()).contains("p@ss+w0rd");
        assertThat(uri.path()).isEqualTo("/microservices");
        Options options = uri.options();
        assertThat(options.duration("ttl", Duration.ZERO)).isEqualTo(Duration.ofSeconds(15));
        assertThat(options.duration("timeout", Duration.ZERO)).isEqualTo(Duration.ofMillis(500));
        assertThat(options.bool("tls", false)).isTrue();
        assertThat(options.integer("retries", 3)).isEqualTo(3);
        options.requireAllKnown();
    }

    @Test
    void toStringHidesThePasswordAndSecretOptions() {
        RegistryUri uri = RegistryUri.parse(URI.create(
                "consul://user:hunter2@127.0.0.1:8500?token=abc-123&dc=eu&clientSecret=zzz"));
        assertThat(uri.toString()).isEqualTo("consul://user:***@127.0.0.1:8500?token=***&dc=eu&clientSecret=***")
                .doesNotContain("hunter2", "abc-123", "zzz");
    }

    @Test
    void secretReadsAreRedactedEvenWithAnInnocentName() {
        Options options = RegistryUri.parse(URI.create("x://h:1?ak=AKIA123")).options();
        assertThat(options.secret("ak")).contains("AKIA123");
        assertThat(options.toString()).isEqualTo("ak=***");
        assertThat(options.bad("ak", "was 'AKIA123'").getMessage()).doesNotContain("AKIA123");
    }

    @Test
    void repeatedOptionIsAnError() {
        assertThatThrownBy(() -> RegistryUri.parse(URI.create("mem://x?ttl=1s&ttl=2s")))
                .isInstanceOf(InvalidOptionException.class).hasMessage("mem option 'ttl' is given twice");
    }

    @Test
    void emptyHostInAListIsAnError() {
        assertThatThrownBy(() -> RegistryUri.parse(URI.create("etcd://a:1,,b:2")))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("empty entry");
    }

    @Test
    void badBooleanAndIntegerAreNamed() {
        Options options = RegistryUri.parse(URI.create("x://h?tls=yes&n=ten")).options();
        assertThatThrownBy(() -> options.bool("tls", false)).hasMessage("x option 'tls' expected true or false, was 'yes'");
        assertThatThrownBy(() -> options.integer("n", 1)).hasMessage("x option 'n' expected an integer, was 'ten'");
    }

    @Test
    void redactMasksRawText() {
        assertThat(RegistryUri.redact("nacos://nacos:pw@h:8848?username=u&password=pw&accessToken=t"))
                .isEqualTo("nacos://***@h:8848?username=u&password=***&accessToken=***");
    }

    @Test
    void noAuthorityMeansNoHosts() {
        RegistryUri uri = RegistryUri.parse(URI.create("kubernetes:///default"));
        assertThat(uri.hosts()).isEqualTo(List.of());
        assertThat(uri.path()).isEqualTo("/default");
    }
}
