package io.roster.eureka;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.spi.RegistryUri;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The {@code eureka://} URI grammar, the options and their checks; nothing here talks to a server. */
class EurekaRegistryProviderTest {

    private static List<URI> servers(String uri) {
        RegistryUri parsed = RegistryUri.parse(URI.create(uri));
        return EurekaRegistryProvider.servers(parsed, parsed.options().bool("tls", false));
    }

    @Test
    void eachServerMayCarryItsOwnPath() {
        assertThat(servers("eureka://10.0.0.1:8761/eureka,10.0.0.2:8761/eureka?renew=10s")).containsExactly(
                URI.create("http://10.0.0.1:8761/eureka"), URI.create("http://10.0.0.2:8761/eureka"));
        assertThat(servers("eureka://a:8080/eureka/v2,b:8761/eureka")).containsExactly(
                URI.create("http://a:8080/eureka/v2"), URI.create("http://b:8761/eureka"));
    }

    @Test
    void serversWithoutAPathShareTheGivenOneOrTheDefault() {
        assertThat(servers("eureka://a:8080,b:8080/eureka/v2")).containsExactly(
                URI.create("http://a:8080/eureka/v2"), URI.create("http://b:8080/eureka/v2"));
        assertThat(servers("eureka://a:8761/eureka,b:8761")).containsExactly(
                URI.create("http://a:8761/eureka"), URI.create("http://b:8761/eureka"));
        assertThat(servers("eureka://a:8761")).containsExactly(URI.create("http://a:8761/eureka"));
        assertThat(servers("eureka://a:8761/")).containsExactly(URI.create("http://a:8761"));
        assertThat(servers("eureka://[::1]:8761/eureka?tls=true"))
                .containsExactly(URI.create("https://[::1]:8761/eureka"));
    }

    @Test
    void ambiguousOrBrokenServerListsAreRejected() {
        assertThatThrownBy(() -> servers("eureka://a/x,b/y,c")).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("different paths");
        assertThatThrownBy(() -> servers("eureka:///eureka")).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("at least one server");
        assertThatThrownBy(() -> servers("eureka://a/eureka,u:p@b/eureka")).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("user info").hasMessageNotContaining("u:p");
    }

    @Test
    void badOptionsAreNamed() {
        assertRejected("eureka://a:8761/eureka?ttl=10s", "ttl");
        assertRejected("eureka://a:8761/eureka?renew=soon", "renew");
        assertRejected("eureka://a:8761/eureka?lease=1500ms", "lease");
        assertRejected("eureka://a:8761/eureka?renew=30s&lease=30s", "lease");
        assertRejected("eureka://a:8761/eureka?timeout=0s", "timeout");
        assertRejected("eureka://a:8761/eureka?status=down", "status");
        assertRejected("eureka://a:8761/eureka?tls=maybe", "tls");
        assertRejected("eureka://a:8761/eureka?maxConnections=0", "maxConnections");
        assertRejected("eureka://a:8761/eureka?maxConnections=1025", "maxConnections");
        assertRejected("eureka://a:8761/eureka?maxConnections=many", "maxConnections");
        assertRejected("eureka://a:8761/eureka?user=u", "password");
        assertRejected("eureka://u:p@a:8761/eureka?user=v&password=w", "user");
    }

    private static void assertRejected(String uri, String option) {
        assertThatThrownBy(() -> Registries.open(uri)).isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option));
    }

    @Test
    void passwordNeverShows() {
        try (Registry registry = Registries.open("eureka://roster:top-Secret@127.0.0.1:8761/eureka")) {
            assertThat(registry.toString()).doesNotContain("top-Secret");
        }
        try (Registry registry = Registries.open("eureka://127.0.0.1:8761/eureka?user=roster&password=top-Secret")) {
            assertThat(registry.toString()).doesNotContain("top-Secret");
        }
        EurekaOptions options = new EurekaOptions(List.of(URI.create("http://a:8761/eureka")), "roster", "top-Secret",
                Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofSeconds(5), Duration.ofSeconds(3), 8,
                null, true);
        assertThat(options.toString()).contains("user=roster").contains("password=***").doesNotContain("top-Secret");
        assertThatThrownBy(() -> Registries.open("eureka://a:8761/eureka?password=top-Secret&lease=soon"))
                .hasMessageNotContaining("top-Secret");
    }

    /** Such a URL did not parse into a host, and the message quoted it whole. */
    @Test
    void serverUrlWithAnAtSignInItsPasswordIsNotEchoed() {
        URI url = URI.create("http://roster:p@ss-S3cr3t@127.0.0.1:8761/eureka");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(url).build())
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("user info")
                .hasMessageNotContaining("S3cr3t");
    }

    /** A '/' in the password ends the URI's authority early; the rest, password and all, was quoted as a server. */
    @Test
    void uriPasswordWithASlashIsNotEchoed() {
        assertThatThrownBy(() -> Registries.open("eureka://roster:p/ss-S3cr3t@127.0.0.1:8761/eureka"))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("percent-encoded")
                .hasMessageNotContaining("S3cr3t");
        assertThatThrownBy(() -> Registries.open("eureka://10.0.0.1:8761/eureka,roster:p@ss-S3cr3t@10.0.0.2:8761"))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageNotContaining("S3cr3t");
    }

    /** Port 99999 was accepted, and the first call failed with a raw IllegalArgumentException. */
    @Test
    void portOutOfRangeIsRejectedAtOpen() {
        assertRejected("eureka://127.0.0.1:99999/eureka", "hosts"); // by RegistryUri, for every backend
        assertRejected("eureka://127.0.0.1:8761/eureka,127.0.0.1:0/eureka", "servers");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(URI.create("http://127.0.0.1:65536/eureka"))
                .build()).isInstanceOf(InvalidOptionException.class).hasMessageContaining("port 1-65535");
    }

    /** A null argument was a bare NullPointerException. */
    @Test
    void nullArgumentsAreNamedOptions() {
        assertNamed(() -> EurekaRegistry.builder().serverUrls(null), "servers");
        assertNamed(() -> EurekaRegistry.builder().serverUrl(null).build(), "servers");
        assertNamed(() -> EurekaRegistry.builder().credentials(null, "p"), "user");
        assertNamed(() -> EurekaRegistry.builder().credentials("u", null), "password");
        assertNamed(() -> EurekaRegistry.builder().sslContext(null), "sslContext");
        assertNamed(() -> EurekaRegistry.builder().serverUrl(URI.create("http://a:8761/eureka"))
                .renewalInterval(null).build(), "renew");
        assertNamed(() -> EurekaRegistry.builder().serverUrl(URI.create("http://a:8761/eureka"))
                .timeout(null).build(), "timeout");
    }

    private static void assertNamed(org.assertj.core.api.ThrowableAssert.ThrowingCallable call, String option) {
        assertThatThrownBy(call).isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option));
    }

    @Test
    void builderChecksServerUrls() {
        assertThatThrownBy(() -> EurekaRegistry.builder().build()).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("at least one server");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(URI.create("ftp://a/eureka")).build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("http://");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(URI.create("http://a:8761/eureka?x=1")).build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("query");
        assertThatThrownBy(() -> EurekaRegistry.builder().serverUrl(URI.create("http://a:8761/eureka"))
                .renewalInterval(Duration.ofSeconds(40)).build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("longer than 'renew'");
    }
}
