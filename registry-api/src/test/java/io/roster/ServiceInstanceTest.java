package io.roster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

class ServiceInstanceTest {

    private static ServiceInstance.Builder valid() {
        return ServiceInstance.builder().name("greeter").id("g-1").version("v1.0.0")
                .metadata("zone", "a").endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000");
    }

    static Stream<Arguments> rules() {
        return Stream.of(
                rule("name is required", b -> b.name(null), "name", "must not be blank"),
                rule("name not blank", b -> b.name("   "), "name", "must not be blank"),
                rule("name without whitespace", b -> b.name("greet er"), "name", "must not contain whitespace"),
                rule("name without non-breaking space", b -> b.name("greet\u00a0er"), "name",
                        "must not contain whitespace"),
                rule("name without '/'", b -> b.name("greet/er"), "name", "must not contain '/'"),
                rule("name without '@@'", b -> b.name("DEFAULT_GROUP@@greeter"), "name", "must not contain '@@'"),
                rule("name without control characters", b -> b.name("greet\u0000er"), "name",
                        "must not contain control characters"),
                rule("name at most 253 characters", b -> b.name("g".repeat(254)), "name",
                        "must be at most 253 characters"),
                rule("name starts with a letter or digit", b -> b.name("_greeter"), "name",
                        "must start with a letter or digit"),
                rule("name starts with a letter or digit (dot)", b -> b.name(".greeter"), "name",
                        "must start with a letter or digit"),
                rule("id not blank", b -> b.id(" "), "id", "must not be blank"),
                rule("id without '/'", b -> b.id("a/b"), "id", "must not contain '/'"),
                rule("id at most 255 characters", b -> b.id("i".repeat(256)), "id", "must be at most 255 characters"),
                rule("id without control characters", b -> b.id("a\nb"), "id", "must not contain control characters"),
                rule("version without whitespace", b -> b.version("v 1"), "version", "must not contain whitespace"),
                rule("version at most 128 characters", b -> b.version("v".repeat(129)), "version",
                        "must be at most 128 characters"),
                rule("metadata key not empty", b -> b.metadata("", "x"), "metadata", "keys must not be empty"),
                rule("metadata key not null", b -> b.metadata(nullKeyMap()), "metadata", "keys must not be null"),
                rule("metadata value not null", b -> b.metadata("k", null), "metadata[k]", "must not be null"),
                rule("endpoint not null", b -> b.endpoint((URI) null), "endpoints[2]", "must not be null"),
                rule("endpoint is a URI", b -> b.endpoint("grpc://10.0.0.5:9000 x"), "endpoints[2]",
                        "must be a URI of the form scheme://host:port"),
                rule("endpoint has a scheme", b -> b.endpoint("localhost:9000"), "endpoints[2]",
                        "must have the form scheme://host:port"),
                rule("endpoint has a scheme (IP)", b -> b.endpoint("10.0.0.5:9000"), "endpoints[2]",
                        "must be a URI of the form scheme://host:port"),
                rule("endpoint scheme lower-case", b -> b.endpoint("GRPC://10.0.0.5:9001"), "endpoints[2]",
                        "must have a lower-case scheme"),
                rule("endpoint has a host", b -> b.endpoint("grpc://:9000"), "endpoints[2]",
                        "must have a valid host"),
                rule("endpoint IPv6 in brackets", b -> b.endpoint("grpc://fe80::1:9000"), "endpoints[2]",
                        "must have a valid host"),
                rule("endpoint has a port", b -> b.endpoint("grpc://10.0.0.5"), "endpoints[2]",
                        "must have a port between 1 and 65535"),
                rule("endpoint port at least 1", b -> b.endpoint("grpc://10.0.0.5:0"), "endpoints[2]",
                        "must have a port between 1 and 65535"),
                rule("endpoint port at most 65535", b -> b.endpoint("grpc://10.0.0.5:65536"), "endpoints[2]",
                        "must have a port between 1 and 65535"),
                rule("endpoint without path", b -> b.endpoint("http://10.0.0.5:8001/api"), "endpoints[2]",
                        "must not have a path"),
                rule("endpoint without trailing slash", b -> b.endpoint("http://10.0.0.5:8001/"), "endpoints[2]",
                        "must not have a path"),
                rule("endpoint without query", b -> b.endpoint("grpc://10.0.0.5:9001?isSecure=true"),
                        "endpoints[2]", "must not have a query or fragment"),
                rule("endpoint without user info", b -> b.endpoint("http://user@10.0.0.5:8001"), "endpoints[2]",
                        "must not contain user info"),
                rule("no duplicate endpoints", b -> b.endpoint("grpc://10.0.0.5:9000"), "endpoints[2]",
                        "must not repeat an endpoint"));
    }

    private static Map<String, String> nullKeyMap() {
        Map<String, String> m = new HashMap<>();
        m.put(null, "v");
        return m;
    }

    private static Arguments rule(String name, UnaryOperator<ServiceInstance.Builder> change, String field,
                                  String rule) {
        return arguments(name, change, field, rule);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void rejectsWithFieldAndRule(String name, UnaryOperator<ServiceInstance.Builder> change, String field,
                                 String rule) {
        assertThatThrownBy(() -> change.apply(valid()).build())
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> {
                    assertThat(e.field()).isEqualTo(field);
                    assertThat(e.rule()).startsWith(rule);
                    assertThat(e.getMessage()).startsWith(field + " " + rule);
                });
    }

    @Test
    void everyNullArgumentIsRefusedNamingTheField() {
        assertThatThrownBy(() -> ServiceInstance.builder().id(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("id"))
                .hasMessageContaining("id must not be null");
        assertThatThrownBy(() -> ServiceInstance.builder().metadata(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("metadata"));
        assertThatThrownBy(() -> ServiceInstance.builder().endpoints(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("endpoints"));
        assertThatThrownBy(() -> valid().endpoint((String) null).build())
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("endpoints[2]"));
        assertThatThrownBy(() -> valid().endpoints(java.util.Arrays.asList(URI.create("grpc://h:1"), null)).build())
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("endpoints[1]"));
        assertThatThrownBy(() -> ServiceInstance.requireWritable(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("instance"));
        assertThatThrownBy(() -> ServiceInstance.requireValidName(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("name"));
        assertThatThrownBy(() -> ServiceInstance.requireReadableName(null))
                .isInstanceOfSatisfying(InvalidInstanceException.class, e -> assertThat(e.field()).isEqualTo("name"));
        assertThat(valid().version(null).build().version()).isEmpty(); // documented: unset
        assertThat(valid().build().endpoint(null)).isEmpty();
    }

    @Test
    void acceptsTheEdgesOfEveryRule() {
        ServiceInstance instance = valid()
                .name("9" + "g".repeat(252))
                .id("i".repeat(255))
                .version("v".repeat(128))
                .metadata("", "x").metadata(Map.of("k", ""))
                .endpoint("grpc://[fe80::1]:65535")
                .endpoint("http://my-host.example.com:1")
                .endpoint("grpcs://10.0.0.5:9000")
                .build();
        assertThat(instance.name()).hasSize(253);
        assertThat(instance.metadata()).containsExactly(Map.entry("k", ""));
        assertThat(instance.endpoints()).hasSize(5);
    }

    @Test
    void defaultsAndAccessors() {
        ServiceInstance a = ServiceInstance.builder().name("greeter").build();
        ServiceInstance b = ServiceInstance.builder().name("greeter").build();
        assertThat(a.id()).hasSize(36).isNotEqualTo(b.id());
        assertThat(a.version()).isEmpty();
        assertThat(a.metadata()).isEmpty();
        assertThat(a.endpoints()).isEmpty();
    }

    @Test
    void metadataIsSortedAndUnmodifiable() {
        ServiceInstance i = valid().metadata(Map.of("b", "2", "a", "1", "\uD83D\uDE00", "emoji", "\uFFFD", "r"))
                .build();
        // Code point order, as Go sorts map keys by their UTF-8 bytes: U+FFFD sorts before U+1F600.
        assertThat(i.metadata().keySet()).containsExactly("a", "b", "\uFFFD", "\uD83D\uDE00");
        assertThatThrownBy(() -> i.metadata().put("c", "3")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> i.endpoints().add(URI.create("grpc://h:1")))
                .isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void endpointOrderIsKeptAndFoundByScheme() {
        ServiceInstance i = valid().endpoint("grpc://10.0.0.6:9000").build();
        assertThat(i.endpoints()).extracting(URI::toString)
                .containsExactly("grpc://10.0.0.5:9000", "http://10.0.0.5:8000", "grpc://10.0.0.6:9000");
        assertThat(i.endpoint("grpc")).contains(URI.create("grpc://10.0.0.5:9000"));
        assertThat(i.endpoint("http")).contains(URI.create("http://10.0.0.5:8000"));
        assertThat(i.endpoint("https")).isEmpty();
    }

    @Test
    void toBuilderCopiesEverythingAndEqualityUsesAllFields() {
        ServiceInstance i = valid().build();
        assertThat(i.toBuilder().build()).isEqualTo(i).hasSameHashCodeAs(i);
        assertThat(i.toBuilder().metadata("zone", "b").build()).isNotEqualTo(i);
        assertThat(i.toBuilder().version("v2").build()).isNotEqualTo(i);
        assertThat(i.toBuilder().endpoints(List.of(URI.create("http://10.0.0.5:8000"),
                URI.create("grpc://10.0.0.5:9000"))).build()).isNotEqualTo(i);
        assertThat(i.toString()).contains("greeter", "g-1", "grpc://10.0.0.5:9000");
    }

    @Test
    void messageShowsControlCharactersEscaped() {
        assertThatThrownBy(() -> valid().name("a\u0001b").build())
                .hasMessageContaining("(was \"a\\u0001b\")");
    }

    @Test
    void requireValidNameChecksBareNames() {
        assertThat(ServiceInstance.requireValidName("hello")).isEqualTo("hello");
        assertThatThrownBy(() -> ServiceInstance.requireValidName("a/b"))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("name must not contain '/'");
    }

    @Test
    void buildLenientKeepsWhatOtherClientsWroteAsWritten() {
        ServiceInstance read = ServiceInstance.builder().name("_private.svc").id("go-1").version("v1.0 beta")
                .metadata("", "empty key").metadata("zone", null)
                .endpoint("http://10.0.0.1:8000/api").endpoint("grpc://10.0.0.1:9000?isSecure=false")
                .endpoint("http://10.0.0.1:8000/api")
                .buildLenient();

        assertThat(read.name()).isEqualTo("_private.svc");
        assertThat(read.version()).isEqualTo("v1.0 beta");
        assertThat(read.metadata()).containsEntry("", "empty key").containsEntry("zone", "");
        assertThat(read.endpoints()).containsExactly(URI.create("http://10.0.0.1:8000/api"),
                URI.create("grpc://10.0.0.1:9000?isSecure=false"));
    }

    @Test
    void buildLenientStillNeedsANameAnIdAndUsableEndpoints() {
        assertThatThrownBy(() -> ServiceInstance.builder().name("").id("1").buildLenient())
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("name");
        assertThatThrownBy(() -> ServiceInstance.builder().name("a").buildLenient())
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("id");
        assertThatThrownBy(() -> ServiceInstance.builder().name("a").id("1").endpoint("grpc://host").buildLenient())
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("endpoints[0]");
    }

    @Test
    void buildLenientReadsEndpointsAsEndpointsLenientDoes() {
        ServiceInstance read = ServiceInstance.builder().name("a").id("1").endpoint("GRPC://h:1/x?isSecure=true")
                .endpoint(URI.create("Http://h:2")).buildLenient();
        assertThat(read.endpoints()).extracting(URI::toString).containsExactly("grpc://h:1/x?isSecure=true",
                "http://h:2");
        assertThat(read.endpoint("http")).contains(URI.create("http://h:2"));
    }

    @Test
    void aLenientInstanceMustPassTheWritingRulesToBeRegistered() {
        ServiceInstance read = ServiceInstance.builder().name("greeter").id("1").version("v1 beta").buildLenient();
        assertThatThrownBy(() -> ServiceInstance.requireWritable(read))
                .isInstanceOf(InvalidInstanceException.class).hasMessageContaining("version");
        ServiceInstance fine = ServiceInstance.builder().name("greeter").id("1").version("v1").buildLenient();
        assertThat(ServiceInstance.requireWritable(fine)).isSameAs(fine);
        assertThat(fine).isEqualTo(ServiceInstance.builder().name("greeter").id("1").version("v1").build());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"grpc://user:S3cr3t@host:9000", "grpc://user:S3cr3t@host:9000/x",
        "grpc://user:S3cr 3t@host:9000", "grpc://user:S3cr@3t@host:9000", "grpc://user:S3cr3t@:9000"})
    void anEndpointWithUserInfoIsRefusedWithoutShowingThePassword(String endpoint) {
        assertThatThrownBy(() -> valid().endpoint(endpoint).build())
                .isInstanceOfSatisfying(InvalidInstanceException.class,
                        e -> assertThat(e.field()).isEqualTo("endpoints[2]"))
                .hasMessageContaining("***@")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr", "3t"));
        assertThatThrownBy(() -> valid().endpoint(URI.create("grpc://user:S3cr3t@host:9000")).build())
                .hasMessageContaining("must not contain user info (was \"grpc://***@host:9000\")")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t"));
    }

    @Test
    void anInstanceReadWithUserInfoNeverShowsItsPassword() {
        ServiceInstance read = ServiceInstance.builder().name("greeter").id("1")
                .endpoint("grpc://user:S3cr3t@host:9000").endpoint("http://host:8000/?token=S3cr3t").buildLenient();
        assertThat(read.endpoints()).extracting(URI::toString)
                .containsExactly("grpc://user:S3cr3t@host:9000", "http://host:8000/?token=S3cr3t");
        assertThat(read.toString()).contains("grpc://***@host:9000", "http://host:8000/?token=***")
                .doesNotContain("S3cr3t");
        assertThatThrownBy(() -> ServiceInstance.requireWritable(read))
                .isInstanceOf(InvalidInstanceException.class)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("S3cr3t"));
    }

    @Test
    void requireReadableNameAcceptsNamesOthersWrite() {
        assertThat(ServiceInstance.requireReadableName("_private.svc")).isEqualTo("_private.svc");
        assertThat(ServiceInstance.requireReadableName("v1 beta")).isEqualTo("v1 beta");
        assertThatThrownBy(() -> ServiceInstance.requireReadableName("a/b"))
                .isInstanceOf(InvalidInstanceException.class);
        assertThatThrownBy(() -> ServiceInstance.requireReadableName(" "))
                .isInstanceOf(InvalidInstanceException.class);
    }
}
