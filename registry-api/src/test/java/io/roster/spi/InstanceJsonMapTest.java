package io.roster.spi;

import io.roster.InvalidInstanceException;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link InstanceJson#encodeMap} and {@link InstanceJson#decodeMap}: a Go {@code map[string]string} as JSON. */
class InstanceJsonMapTest {

    @Test
    void writesSortedCompactGoEscapedObjects() {
        Map<String, String> map = new LinkedHashMap<>();
        map.put("zone", "a<b>&c");
        map.put("9000", "grpc");
        map.put("\uD83D\uDE00", "emoji"); // a supplementary character sorts after U+FFFD in code point order
        map.put("\uFFFD", "replacement");
        map.put("8000", "http");

        assertThat(InstanceJson.encodeMap(map)).isEqualTo(
                "{\"8000\":\"http\",\"9000\":\"grpc\",\"zone\":\"a\\u003cb\\u003e\\u0026c\",\"\uFFFD\":\"replacement\","
                        + "\"\uD83D\uDE00\":\"emoji\"}");
        assertThat(InstanceJson.encodeMap(Map.of())).isEqualTo("{}");
    }

    @Test
    void readsObjectsOfStringsAsGoDoes() {
        assertThat(InstanceJson.decodeMap(" {\"region\": \"sh\", \"zone\": null}\n"))
                .containsExactly(Map.entry("region", "sh"), Map.entry("zone", ""));
        assertThat(InstanceJson.decodeMap("null")).isEmpty();
        assertThat(InstanceJson.decodeMap("{}")).isEmpty();
        assertThat(InstanceJson.decodeMap("{\"a\\u003c\":\"\\u0026\"}")).containsExactly(Map.entry("a<", "&"));
    }

    @Test
    void rejectsWhatGoCannotDecodeIntoAStringMap() {
        for (String bad : new String[] {"[]", "\"x\"", "{\"a\":1}", "{\"a\":{}}", "{", "{\"a\":\"b\"} x", ""}) {
            assertThatThrownBy(() -> InstanceJson.decodeMap(bad)).as(bad).isInstanceOf(InvalidInstanceException.class);
        }
    }
}
