package io.roster.consul;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.spi.RegistryUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code consul://} URIs: every option, defaults, and bad input naming the option. */
class ConsulRegistryProviderTest {

    private static ConsulConfig config(String uri) {
        return ConsulRegistryProvider.builder(RegistryUri.parse(URI.create(uri))).config();
    }

    @Test
    void defaultsAreKratosExceptTcpChecks() {
        ConsulConfig c = ConsulRegistry.builder().config();

        assertThat(c.agent()).isEqualTo(URI.create("http://127.0.0.1:8500/"));
        assertThat(c.token()).isNull();
        assertThat(c.datacenter()).isNull();
        assertThat(c.ttl()).isEqualTo(Duration.ofSeconds(20));
        assertThat(c.heartbeat()).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.deregisterAfter()).isEqualTo(Duration.ofSeconds(600));
        assertThat(c.tcpCheck()).isFalse();
        assertThat(c.queryWait()).isEqualTo(Duration.ofSeconds(55));
        assertThat(c.timeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(c.passingOnly()).isTrue();
        assertThat(c.sslContext()).isNull();
    }

    @Test
    void everyOptionIsRead() {
        try (Registry registry = Registries.open("consul://127.0.0.1:8600?token=s3cr3t-t0k3n&dc=eu1&ttl=30s"
                + "&heartbeat=5s&deregisterAfter=2m&tcpCheck=true&tags=canary,%20team%3Dcore&wait=2m&timeout=3s"
                + "&passingOnly=false")) {
            assertThat(registry).isInstanceOf(ConsulRegistry.class);
            String shown = registry.toString();
            assertThat(shown).isEqualTo("ConsulRegistry{consul at http://127.0.0.1:8600}");
        }
        ConsulConfig c = config("consul://127.0.0.1:8600?token=s3cr3t-t0k3n&dc=eu1&ttl=30s"
                + "&heartbeat=5s&deregisterAfter=2m&tcpCheck=true&tags=canary,%20team%3Dcore&wait=2m&timeout=3s"
                + "&passingOnly=false");
        assertThat(c.agent()).isEqualTo(URI.create("http://127.0.0.1:8600/"));
        assertThat(c.token()).isEqualTo("s3cr3t-t0k3n");
        assertThat(c.datacenter()).isEqualTo("eu1");
        assertThat(c.ttl()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.heartbeat()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.deregisterAfter()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.tcpCheck()).isTrue();
        assertThat(c.tags()).containsExactly("canary", "team=core");
        assertThat(c.queryWait()).isEqualTo(Duration.ofMinutes(2));
        assertThat(c.timeout()).isEqualTo(Duration.ofSeconds(3));
        assertThat(c.passingOnly()).isFalse();
        assertThat(c.toString()).contains("token=***").doesNotContain("s3cr3t");
    }

    @Test
    void hostsDefaultToTheLocalAgent() {
        assertThat(config("consul:///").agent()).isEqualTo(URI.create("http://127.0.0.1:8500/"));
        assertThat(config("consul://consul.local").agent())
                .isEqualTo(URI.create("http://consul.local:8500/"));
        assertThat(config("consul://[::1]:8500").agent()).isEqualTo(URI.create("http://[::1]:8500/"));
        assertThat(Registries.schemes()).contains("consul", "mem");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "consul://a:8500,b:8500 | hosts | one agent address",
            "consul://user:pw@a:8500 | token | not as user info",
            "consul://a:8500/kv | path | takes no path",
            "consul://a:8500?colour=blue | colour | unknown consul option 'colour'",
            "consul://a:8500?ttl=0s | ttl | must be positive",
            "consul://a:8500?ttl=10s&heartbeat=10s | heartbeat | must be shorter than ttl",
            "consul://a:8500?wait=11m | wait | at most 10m",
            "consul://a:8500?tcpCheck=yes | tcpCheck | expected true or false",
            "consul://a:8500?tags=a,,b | tags | blank tag",
            "consul://a:8500?tags=version=v2 | tags | must not hold a 'version=' tag",
            "consul://a:8500?token= | token | must not be blank",
            "consul://a:8500?dc= | dc | must not be blank",
            "consul://a:8500?keyFile=/k.pem | keyFile | must be given together with certFile",
            "consul://a:8500?tls=false&caFile=/ca.pem | tls | is false but caFile",
            "consul://a:8500?maxConnections=3 | maxConnections | between 4 and 1024",
            "consul://a:8500?maxConnections=many | maxConnections | expected an integer"})
    void badUrisAreRejectedNamingTheOption(String uri, String option, String text) {
        assertThatThrownBy(() -> Registries.open(uri))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining(text)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {"a:99999", "a:0", "[::1]:65536", "a:", "http://a:70000"})
    void aBadPortIsRejectedWhenOpeningNotAtTheFirstCall(String address) {
        assertThatThrownBy(() -> ConsulRegistry.builder().address(address).build())
                .isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo("address"));
        assertThatThrownBy(() -> ConsulRegistryProvider.builder(RegistryUri.parse(URI.create("consul://x")))
                .address(address).build()).isInstanceOf(InvalidOptionException.class);
    }

    @Test
    void nullSettingsAreRejectedNamingTheOption() {
        List<java.util.function.Consumer<ConsulRegistry.Builder>> settings = List.of(
                b -> b.address(null), b -> b.token(null), b -> b.datacenter(null), b -> b.ttl(null),
                b -> b.heartbeat(null), b -> b.tags(null), b -> b.tags(java.util.Arrays.asList("a", null)),
                b -> b.timeout(null), b -> b.blockingQueryWait(null), b -> b.caFile(null),
                b -> b.clientCertificate(null, null), b -> b.sslContext(null),
                b -> b.deregisterCriticalServiceAfter(null));
        for (java.util.function.Consumer<ConsulRegistry.Builder> setting : settings) {
            assertThatThrownBy(() -> setting.accept(ConsulRegistry.builder()))
                    .isInstanceOf(InvalidOptionException.class).hasMessageContaining("must not");
        }
    }

    @Test
    void maxConnectionsDefaultsToSixteenAndIsRead() {
        assertThat(ConsulRegistry.builder().config().maxConnections()).isEqualTo(16);
        assertThat(config("consul://a?maxConnections=6").maxConnections()).isEqualTo(6);
        assertThat(ConsulWatch.dedicatedSlots(16)).as("half the connections hold blocking queries, two shared")
                .isEqualTo(6);
        assertThat(ConsulWatch.dedicatedSlots(4)).isZero();
    }

    @Test
    void tagsAreTrimmedAndKeptInOrder() {
        assertThat(config("consul:///?tags=b,a").tags()).isEqualTo(List.of("b", "a"));
    }
}
