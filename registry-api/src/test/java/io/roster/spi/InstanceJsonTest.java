package io.roster.spi;

import io.roster.InvalidInstanceException;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.Map;

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

    @Test
    void dropsUnusableEndpointsOnRead() {
        ServiceInstance instance = InstanceJson.decode(
                "{\"id\":\"1\",\"name\":\"a\",\"endpoints\":[\"\",null,\"grpc://h:1\",\"grpc://h:1\",\"x\"]}");
        assertThat(instance.endpoints()).containsExactly(URI.create("grpc://h:1"));
    }
}
