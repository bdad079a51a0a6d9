package io.roster.spi;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

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

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "password with @      | eureka://user:S3cr@3t@host:8761/eureka     | eureka://***@host:8761/eureka",
        "password with /      | eureka://user:S3cr/3t@host:8761/eureka     | eureka://***@host:8761/eureka",
        "password with ?      | eureka://user:S3cr?3t@host:8761            | eureka://***@host:8761",
        "password with #      | eureka://user:S3cr#3t@host:8761            | eureka://***@host:8761",
        "password with space  | etcd://root:S3cr 3t@host:2379?ttl=5s       | etcd://***@host:2379?ttl=5s",
        "ZooKeeper digest     | zookeeper://h:2181/r?digest=app:S3cr3t x   | zookeeper://h:2181/r?digest=***",
        "password option      | nacos://h:8848?username=u&password=S3cr3t^ | nacos://h:8848?username=u&password=***",
        "token mid-query      | consul://h:8500?token=S3cr3t&dc=eu         | consul://h:8500?token=***&dc=eu",
        "secret after a query | x://h:1?a=1?clientSecret=S3cr3t            | x://h:1?a=1?clientSecret=***",
        "encoded name         | x://h:1?pass%77ord=S3cr3t                  | x://h:1?pass%77ord=***",
        "other secret names   | x://h:1?secret_key=S3cr3t&api-key=S3cr3t   | x://h:1?secret_key=***&api-key=***",
        "two server URLs      | http://u:S3cr3t@h1:8761,https://u:S3cr@3t@h2:8761 | http://***@h1:8761,https://***@h2:8761",
    })
    void redactMasksEveryFormOfSecret(String form, String text, String expected) {
        assertThat(RegistryUri.redact(text)).isEqualTo(expected).doesNotContain("S3cr", "3t");
    }

    @Test
    void aEurekaServerUrlWhosePasswordHoldsAnAtIsTakenApartAndNeverShown() {
        RegistryUri uri = RegistryUri.parse(URI.create("eureka://user:S3cr@3t@host:8761/eureka"));
        assertThat(uri.user()).contains("user");
        assertThat(uri.password()).contains("S3cr@3t");
        assertThat(uri.hosts()).containsExactly("host:8761");
        assertThat(uri.toString()).isEqualTo("eureka://user:***@host:8761/eureka");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "eureka://user:S3cr/3t@host:8761/eureka", "eureka://user:S3cr?3t@host:8761", "eureka://user:S3cr#3t@host:8761",
        "etcd://user:S3cr@3t/x@host:2379", "etcd://user:12345/3t@host:2379", "etcd://user:S3cr3t/@host:2379",
        "etcd://user:S3cr?x=3t@host:2379",
    })
    void aPasswordThatEndsTheAuthorityEarlyIsRefusedWithoutBeingEchoed(String text) {
        assertThatThrownBy(() -> RegistryUri.parse(URI.create(text)))
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("percent-encode")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr", "3t", "12345"));
    }

    /**
     * A password holding an unencoded '?' after digits passes for a host and port ({@code user:12345}) and leaves
     * the rest in the query; "unknown option 'S3cr3t'" then showed it.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "eureka://user:12345?S3cr3t=x@host:8761/eureka", "etcd://root:12345?S3c=r3t@host:2379",
        "etcd://root:12345?ttl=5s&S3c=r3t@host:2379", "mem://user:12345?S3c&r3t=x@demo",
    })
    void aPasswordWhoseQuestionMarkEndedTheAuthorityIsNeverShown(String text) {
        RegistryUri uri = RegistryUri.parse(URI.create(text));
        Options options = uri.options();
        options.duration("ttl", Duration.ofSeconds(10));

        assertThatThrownBy(options::requireAllKnown)
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("uri"))
                .hasMessageContaining("percent-encoded")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3c", "r3t", "12345"));
        assertThat(uri.toString()).doesNotContain("S3c", "r3t", "12345");
        assertThat(options.toString()).doesNotContain("S3c", "r3t", "12345");
    }

    @Test
    void aBadValueInSuchAQueryIsNotQuoted() {
        Options options = RegistryUri.parse(URI.create("etcd://root:12345?ttl=S3cr3t@host:2379")).options();
        assertThatThrownBy(() -> options.duration("ttl", Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("ttl"))
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t"));
    }

    @Test
    void anAtInTheValuesOfALawfulQueryStillWorksAndIsNotShown() {
        RegistryUri uri = RegistryUri.parse(URI.create("nacos://h:8848?username=alice@corp&password=p@S3cr3t"));
        Options options = uri.options();
        assertThat(options.string("username")).contains("alice@corp");
        assertThat(options.secret("password")).contains("p@S3cr3t");
        options.requireAllKnown();
        assertThat(uri.hosts()).containsExactly("h:8848");
        assertThat(uri.toString()).doesNotContain("S3cr3t");
        assertThat(options.toString()).doesNotContain("S3cr3t");
        assertThatThrownBy(() -> Registries.open("mem://demo?ttl=5s&x=S3cr3t@y"))
                .isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"etcd://h:99999", "etcd://a:2379,b:0", "consul://h:65536", "mem://store:99999"})
    void aPortOutOfRangeIsRefused(String text) {
        assertThatThrownBy(() -> RegistryUri.parse(URI.create(text)))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("hosts"))
                .hasMessageContaining("out of the range 1-65535");
    }

    @Test
    void hostsWithoutAPortOrInBracketsPass() {
        assertThat(RegistryUri.parse(URI.create("zookeeper://a,b:2181,c:65535/root")).hosts())
                .containsExactly("a", "b:2181", "c:65535");
        assertThat(RegistryUri.parse(URI.create("etcd://[::1]:2379")).hosts()).containsExactly("[::1]:2379");
        assertThat(RegistryUri.parse(URI.create("etcd://[::1]")).hosts()).containsExactly("[::1]");
        assertThat(RegistryUri.parse(URI.create("mem://demo")).hosts()).containsExactly("demo");
        // A port that is not a number is the provider's to explain (etcd names its 'endpoints' rule).
        assertThat(RegistryUri.parse(URI.create("etcd://h:port")).hosts()).containsExactly("h:port");
        assertThatThrownBy(() -> RegistryUri.parse(URI.create("etcd://h:123456789012")))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("port 123456789012, out of");
    }

    @Test
    void secretNamesAreRecognisedWhateverTheirCase() {
        for (String name : List.of("password", "Password", "passwd", "pwd", "token", "accessToken", "X-Token",
                "secret", "clientSecret", "secret_key", "digest", "credentials", "apiKey", "api-key", "privateKey",
                "Authorization", "auth")) {
            assertThat(Options.isSecretName(name)).as(name).isTrue();
        }
        for (String name : List.of("user", "username", "ttl", "keyFile", "certFile", "dc", "author")) {
            assertThat(Options.isSecretName(name)).as(name).isFalse();
        }
    }

    @Test
    void noAuthorityMeansNoHosts() {
        RegistryUri uri = RegistryUri.parse(URI.create("kubernetes:///default"));
        assertThat(uri.hosts()).isEqualTo(List.of());
        assertThat(uri.path()).isEqualTo("/default");
    }
}
