package io.roster;

import io.roster.spi.RegistryProvider;
import io.roster.spi.RegistryUri;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RegistriesTest {

    @Test
    void unknownSchemeListsTheKnownOnes() {
        assertThatThrownBy(() -> Registries.open("nosuch://127.0.0.1:1"))
                .isInstanceOf(RegistryException.class)
                .hasMessageContaining("no registry provider for scheme 'nosuch'")
                .hasMessageContaining("schemes available on the class path: mem");
        assertThat(Registries.schemes()).contains("mem");
    }

    @Test
    void opensTheEmbeddedRegistry() {
        ServiceInstance instance = ServiceInstance.builder().name("reg-test").id("1").build();
        try (Registry a = Registries.open("mem://registries-test"); Registry b = Registries.open(
                URI.create("mem://registries-test?ttl=5s"))) {
            a.register(instance);
            assertThat(b.getService("reg-test")).containsExactly(instance);
        }
    }

    @Test
    void unknownOptionIsNamedWithTheKnownOnes() {
        assertThatThrownBy(() -> Registries.open("mem://x?tll=5s"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("tll"))
                .hasMessage("unknown mem option 'tll'; known options: ttl");
    }

    @Test
    void badValueIsNamed() {
        assertThatThrownBy(() -> Registries.open("mem://x?ttl=fast"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("ttl"))
                .hasMessageContaining("mem option 'ttl' expected a duration such as 500ms, 15s, 2m or 1h");
        assertThatThrownBy(() -> Registries.open("mem://x?ttl=0s")).hasMessageContaining("must be positive");
    }

    @Test
    void malformedUriNeverShowsSecrets() {
        assertThatThrownBy(() -> Registries.open("etcd://root:s3cr3t@host name:2379?password=p4ss&token=t0k"))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageNotContaining("s3cr3t").hasMessageNotContaining("p4ss").hasMessageNotContaining("t0k")
                .hasMessageContaining("***@");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "zookeeper://127.0.0.1:2181/roster?digest=app:S3cr3t^x", "zookeeper://h:2181?digest=app:S3cr3t x&a=b",
        "nacos://h:8848?username=u&password=S3cr3t pw", "consul://h:8500?token=S3cr3t{}&dc=eu",
        "nacos://h:8848?accessToken=S3cr3t|&secretKey=S3cr3t|", "etcd://root:S3cr3t pw@h:2379",
        "eureka://user:S3cr3t@^@host:8761", "etcd://root:S3cr/3t@h 1:2379"})
    void aUriWithASyntaxErrorNeverEchoesASecret(String uri) {
        assertThatThrownBy(() -> Registries.open(uri))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("not a valid registry URI")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr", "3t"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"eureka://user:S3cr@3t@host:8761", "eureka://user:S3cr/3t@host:8761",
        "eureka://user:S3cr?3t@host:8761", "eureka://user:S3cr#3t@host:8761", "mem://user:S3cr3t@store?ttl=x"})
    void aValidUriNeverEchoesItsPasswordWhateverItHolds(String uri) {
        assertThatThrownBy(() -> Registries.open(uri))
                .isInstanceOf(RegistryException.class)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr", "3t"));
    }

    @Test
    void aPortOutOfRangeIsRefusedAtOpen() {
        assertThatThrownBy(() -> Registries.open("mem://store:99999"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("hosts"))
                .hasMessage("mem URI host entry 1 has port 99999, out of the range 1-65535");
        assertThatThrownBy(() -> Registries.open("nosuch://h:99999"))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("port 99999");
    }

    @Test
    void aNullUriIsRefusedNamingIt() {
        assertThatThrownBy(() -> Registries.open((String) null))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("uri"));
        assertThatThrownBy(() -> Registries.open((URI) null))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("uri"));
    }

    /** Serves faulty://&lt;what&gt;: its open() fails the way the host names. */
    public static final class FaultyProvider implements RegistryProvider {
        @Override
        public String scheme() {
            return "faulty";
        }

        @Override
        public Registry open(RegistryUri uri) {
            switch (uri.hosts().get(0)) {
                case "iae":
                    throw new IllegalArgumentException("port out of range:99999");
                case "io":
                    throw new UncheckedIOException(new ConnectException("Connection refused"));
                case "bug":
                    throw new IllegalStateException("GET http://user:S3cr3t@h:1 failed");
                default:
                    return null;
            }
        }
    }

    /** A provider whose client library is missing. */
    public static final class BrokenProvider implements RegistryProvider {
        @Override
        public String scheme() {
            return "broken";
        }

        @Override
        public boolean isAvailable() {
            throw new NoClassDefFoundError("com/example/Client");
        }

        @Override
        public Registry open(RegistryUri uri) {
            throw new AssertionError("never opened");
        }
    }

    private static void withProviders(Path dir, Runnable test) throws IOException {
        Path services = dir.resolve("META-INF/services/" + RegistryProvider.class.getName());
        Files.createDirectories(services.getParent());
        Files.writeString(services, FaultyProvider.class.getName() + "\n" + BrokenProvider.class.getName() + "\n");
        Thread thread = Thread.currentThread();
        ClassLoader original = thread.getContextClassLoader();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()},
                RegistriesTest.class.getClassLoader())) {
            thread.setContextClassLoader(loader);
            test.run();
        } finally {
            thread.setContextClassLoader(original);
        }
    }

    @Test
    void whateverAProviderThrowsArrivesAsARosterException(@TempDir Path dir) throws IOException {
        withProviders(dir, () -> {
            assertThat(Registries.schemes()).contains("faulty", "mem").doesNotContain("broken");
            assertThatThrownBy(() -> Registries.open("faulty://iae"))
                    .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("uri"))
                    .hasMessageContaining("faulty registry faulty://iae has a value its client refused")
                    .hasMessageContaining("port out of range:99999");
            assertThatThrownBy(() -> Registries.open("faulty://io"))
                    .isInstanceOf(RegistryUnavailableException.class)
                    .hasMessageContaining("open failed: faulty://io is unavailable (java.net.ConnectException");
            assertThatThrownBy(() -> Registries.open("faulty://bug"))
                    .isExactlyInstanceOf(RegistryException.class)
                    .hasMessageContaining("open failed on faulty://bug: java.lang.IllegalStateException")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t"));
            assertThatThrownBy(() -> Registries.open("faulty://null"))
                    .isExactlyInstanceOf(RegistryException.class).hasMessageContaining("returned no registry");
            try (Registry registry = Registries.open("mem://registries-test-broken")) {
                assertThat(registry.services()).isEmpty();
            }
        });
    }

    @Test
    void unknownSchemeMessageNeverShowsSecrets() {
        assertThatThrownBy(() -> Registries.open("nosuch://root:s3cr3t@127.0.0.1:1?token=t0k"))
                .hasMessageNotContaining("s3cr3t").hasMessageNotContaining("t0k");
    }
}
