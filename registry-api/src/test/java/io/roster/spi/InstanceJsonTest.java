package io.roster.spi;

import io.roster.InvalidInstanceException;
import io.roster.LogCapture;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.URI;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Golden texts are what Go's encoding/json writes for Kratos's registry.ServiceInstance. */
class InstanceJsonTest {

    @Test
    void writesKratosBytes() {
        ServiceInstance instance = ServiceInstance.builder()
                .id("7b1e2a7c-3f6e-11ef-9c1d-0242ac120002").name("helloworld").version("v1.0.0")
                .metadata("region", "sh").metadata("app", "demo")
                .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000")
                .build();
        assertThat(InstanceJson.encode(instance)).isEqualTo(
                "{\"id\":\"7b1e2a7c-3f6e-11ef-9c1d-0242ac120002\",\"name\":\"helloworld\",\"version\":\"v1.0.0\","
                        + "\"metadata\":{\"app\":\"demo\",\"region\":\"sh\"},"
                        + "\"endpoints\":[\"grpc://10.0.0.5:9000\",\"http://10.0.0.5:8000\"]}");
    }

    @Test
    void writesNullForEmptyMetadataAndEndpoints() {
        ServiceInstance instance = ServiceInstance.builder().id("1").name("a").build();
        assertThat(InstanceJson.encode(instance))
                .isEqualTo("{\"id\":\"1\",\"name\":\"a\",\"version\":\"\",\"metadata\":null,\"endpoints\":null}");
    }

    @Test
    void escapesAsGoDoes() {
        ServiceInstance instance = ServiceInstance.builder().id("1").name("a")
                .metadata("k", "<b>&\"\\\n\r\t\b\f\u0001\u007f\u2028\u2029é\uD83D\uDE00\uD800")
                .build();
        assertThat(InstanceJson.encode(instance)).contains(
                "\"k\":\"\\u003cb\\u003e\\u0026\\\"\\\\\\n\\r\\t\\b\\f\\u0001\u007f\\u2028\\u2029é\uD83D\uDE00"
                        + "\\ufffd\"");
    }

    @Test
    void roundTrips() {
        ServiceInstance instance = ServiceInstance.builder().id("x-1").name("svc").version("v2")
                .metadata("a", "\"quoted\" <tag> \u2028 \uD83D\uDE00").endpoint("grpcs://[::1]:443").build();
        assertThat(InstanceJson.decode(InstanceJson.encode(instance))).isEqualTo(instance);
    }

    @Test
    void readsWhatGoWrites() {
        String json = "{\"id\":\"1\",\"name\":\"helloworld\",\"version\":\"v1\",\"metadata\":null,"
                + "\"endpoints\":[\"grpc://10.0.0.5:9000?isSecure=false\",\"http://10.0.0.5:8000/\"]}";
        ServiceInstance instance = InstanceJson.decode(json);
        assertThat(instance.metadata()).isEmpty();
        assertThat(instance.endpoints()).containsExactly(URI.create("grpc://10.0.0.5:9000?isSecure=false"),
                URI.create("http://10.0.0.5:8000/"));
    }

    @Test
    void readsLikeGoDecoder() {
        // Case-insensitive names, unknown fields of any shape ignored, whitespace, legacy isSecure=true.
        String json = " { \"ID\" : \"1\", \"Name\":\"hello\", \"extra\":{\"n\":[1,2.5e3,true,null]},"
                + "\"Metadata\":{\"k\":\"v\",\"n\":null}, \"endpoints\":[\"grpc://10.0.0.5:9000?isSecure=true\"] } ";
        ServiceInstance instance = InstanceJson.decode(json);
        assertThat(instance.id()).isEqualTo("1");
        assertThat(instance.name()).isEqualTo("hello");
        assertThat(instance.version()).isEmpty();
        assertThat(instance.metadata()).isEqualTo(Map.of("k", "v", "n", ""));
        assertThat(instance.endpoints()).containsExactly(URI.create("grpc://10.0.0.5:9000?isSecure=true"));
        assertThat(InstanceJson.decode("{\"id\":\"1\",\"name\":\"a\\u003cb\\ud83d\\ude00\"}").name())
                .isEqualTo("a<b\uD83D\uDE00");
    }

    @Test
    void rejectsWhatGoRejects() {
        String[] bad = {
            "", "null", "[]", "{", "{\"id\":\"1\",\"name\":\"a\"} x", "{\"id\":1,\"name\":\"a\"}",
            "{\"id\":\"1\",\"name\":\"a\",\"metadata\":{\"k\":1}}", "{\"id\":\"1\",\"name\":\"a\",\"metadata\":[]}",
            "{\"id\":\"1\",\"name\":\"a\",\"endpoints\":[1]}", "{\"id\":\"1\",\"name\":\"a\\x\"}",
            "{\"name\":\"a\"}", "{\"id\":\"1\"}", "{\"id\":\"1\",\"name\":\"a/b\"}", "not json",
            "{\"id\":\"1\",\"name\":\"a\",}", "[".repeat(100)
        };
        for (String json : bad) {
            assertThatThrownBy(() -> InstanceJson.decode(json)).as(json).isInstanceOf(InvalidInstanceException.class);
            assertThat(InstanceJson.decodeOrSkip(json, "test")).as(json).isEmpty();
        }
    }

    /** Records Go Kratos can write (json.Marshal of its registry.ServiceInstance), which its readers accept. */
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "version with a space   | {\"id\":\"go-1\",\"name\":\"greeter\",\"version\":\"v1.0 beta\",\"metadata\":null,"
                + "\"endpoints\":[\"grpc://10.0.0.1:9000\"]}",
        "empty metadata key     | {\"id\":\"go-2\",\"name\":\"greeter\",\"version\":\"v1\","
                + "\"metadata\":{\"\":\"empty key\",\"zone\":\"eu west\"},\"endpoints\":null}",
        "name starting with _   | {\"id\":\"go-3\",\"name\":\"_private.svc\",\"version\":\"\",\"metadata\":null,"
                + "\"endpoints\":[\"grpc://10.0.0.1:9000\"]}",
        "endpoint with a path   | {\"id\":\"go-4\",\"name\":\"greeter\",\"version\":\"\",\"metadata\":null,"
                + "\"endpoints\":[\"http://10.0.0.1:8000/api\",\"http://10.0.0.1:8001/\"]}",
        "isSecure query         | {\"id\":\"go-5\",\"name\":\"greeter\",\"version\":\"\",\"metadata\":null,"
                + "\"endpoints\":[\"grpc://10.0.0.1:9000?isSecure=true\",\"http://10.0.0.1:8000?isSecure=false\\u0026a=b\"]}",
        "all of them at once    | {\"id\":\"go 6\",\"name\":\"_private.svc\",\"version\":\"v1.0 beta\","
                + "\"metadata\":{\"\":\"\",\"k\":\"\\u003cv\\u003e\"},"
                + "\"endpoints\":[\"http://[::1]:8000/api/v1?isSecure=true\",\"grpcs://h.example.com:443\"]}",
    })
    void readsEveryRecordGoKratosCanWriteAndKeepsItAsWritten(String form, String json) {
        ServiceInstance read = InstanceJson.decode(json);
        assertThat(InstanceJson.encode(read)).as("written back byte for byte").isEqualTo(json);
        assertThat(InstanceJson.decodeOrSkip(json, "golden " + form)).contains(read);
    }

    @Test
    void aGoldenKratosRecordKeepsEveryFieldAsWritten() {
        ServiceInstance read = InstanceJson.decode("{\"id\":\"go-1\",\"name\":\"_private.svc\","
                + "\"version\":\"v1.0 beta\",\"metadata\":{\"\":\"empty key\",\"nil\":null},"
                + "\"endpoints\":[\"http://10.0.0.1:8000/api\",\"grpc://10.0.0.1:9000?isSecure=true\"]}");
        assertThat(read.id()).isEqualTo("go-1");
        assertThat(read.name()).isEqualTo("_private.svc");
        assertThat(read.version()).isEqualTo("v1.0 beta");
        assertThat(read.metadata()).containsExactly(Map.entry("", "empty key"), Map.entry("nil", ""));
        assertThat(read.endpoints()).containsExactly(URI.create("http://10.0.0.1:8000/api"),
                URI.create("grpc://10.0.0.1:9000?isSecure=true"));
        assertThat(read.endpoint("grpc")).contains(URI.create("grpc://10.0.0.1:9000?isSecure=true"));
        // Read leniently, but never written back unchecked.
        assertThatThrownBy(() -> ServiceInstance.requireWritable(read)).isInstanceOf(InvalidInstanceException.class);
    }

    @Test
    void aDroppedEndpointIsLoggedOncePerRecordNotPerReadAndWithoutSecrets() {
        String source = "etcd key /microservices/a/" + UUID.randomUUID();
        String record = "{\"id\":\"1\",\"name\":\"a\",\"endpoints\":[\"grpc://h:1\",\"grpc://user:S3cr3t@h\","
                + "\"h:1\",null]}";
        try (LogCapture log = LogCapture.start()) {
            for (int read = 0; read < 5; read++) {
                assertThat(InstanceJson.decodeOrSkip(record, source).orElseThrow().endpoints())
                        .containsExactly(URI.create("grpc://h:1"));
            }
            assertThat(log.lines("dropped endpoint(s)")).isEqualTo(1);
            assertThat(log.text()).contains("WARN", source, "[\"grpc://***@h\", \"h:1\", null]", "instance a/1")
                    .doesNotContain("S3cr3t");

            InstanceJson.decodeOrSkip(record.replace("\"h:1\"", "\"h:2\""), source); // rewritten, still bad
            assertThat(log.lines("dropped endpoint(s)")).isEqualTo(2);
        }
    }

    @Test
    void aMalformedRecordIsLoggedOncePerRecordNotPerRead() {
        String source = "znode /microservices/a/" + UUID.randomUUID();
        try (LogCapture log = LogCapture.start()) {
            for (int read = 0; read < 5; read++) {
                assertThat(InstanceJson.decodeOrSkip("{\"id\":\"1\",\"name\":\"a/b\"}", source)).isEmpty();
            }
            assertThat(log.lines("skipped a malformed instance record")).isEqualTo(1);
        }
    }

    @Test
    void dropsUnusableEndpointsOnRead() {
        ServiceInstance instance = InstanceJson.decode(
                "{\"id\":\"1\",\"name\":\"a\",\"endpoints\":[\"\",null,\"grpc://h:1\",\"grpc://h:1\",\"x\"]}");
        assertThat(instance.endpoints()).containsExactly(URI.create("grpc://h:1"));
    }
}
