package io.roster.nacos;

import com.alibaba.nacos.api.naming.NamingService;
import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** URI options and builder checks: bad input fails naming the option, before any client is created. */
class NacosOptionsTest {

    @Test
    void badOptionsAreRejectedNamingThem() {
        Map<String, String> bad = Map.of(
                "nacos://127.0.0.1:8848?grup=x", "grup",
                "nacos://127.0.0.1:8848?group=a@@b", "group",
                "nacos://127.0.0.1:8848?cluster=blue_1", "cluster",
                "nacos://127.0.0.1:8848?namespace=a/b", "namespace",
                "nacos://127.0.0.1:8848?weight=heavy", "weight",
                "nacos://127.0.0.1:8848?weight=0", "weight",
                "nacos://127.0.0.1:8848?timeout=0s", "timeout",
                "nacos://127.0.0.1:8848?schemes=grpc,,http", "schemes",
                "nacos://127.0.0.1:8848?healthyOnly=maybe", "healthyOnly",
                "nacos://127.0.0.1:8848/prod", "path");
        bad.forEach((uri, option) -> assertThatThrownBy(() -> Registries.open(uri)).as(uri)
                .isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo(option)));
        assertThatThrownBy(() -> Registries.open("nacos://")).isInstanceOf(InvalidOptionException.class);
        assertThatThrownBy(() -> Registries.open("nacos://127.0.0.1:8848?reconnectGrace=-1s"))
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("reconnectGrace"));
        assertThatThrownBy(() -> Registries.open("nacos://127.0.0.1:8848?verify=soon"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("verify"));
        assertThatThrownBy(() -> NacosRegistry.builder().serverAddr("127.0.0.1:8848")
                .verifyInterval(java.time.Duration.ZERO).build())
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("verify"));
    }

    @Test
    void aPortNacosClientCannotUseIsRefusedBeforeItStarts() throws InterruptedException {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        // nacos-client connects to the port + 1000: above 64535 that is no port, and it would fail on its thread.
        for (String port : List.of("99999", "64536", "0", "12345678901")) {
            assertThatThrownBy(() -> Registries.open("nacos://127.0.0.1:" + port)).as(port)
                    .isInstanceOfSatisfying(InvalidOptionException.class, e -> {
                        assertThat(e.option()).isEqualTo("hosts");
                        assertThat(e.getMessage()).contains(port);
                    });
        }
        assertThatThrownBy(() -> Registries.open("nacos://127.0.0.1:8848,127.0.0.2:70000"))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("70000");
        assertThatThrownBy(() -> NacosRegistry.builder().serverAddr("10.0.0.1:8848,10.0.0.2:99999").build())
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("serverAddr"));
        before.assertNoNewThreads(Duration.ofSeconds(1), t -> false); // no nacos-client was created
    }

    @Test
    void passwordsNeverShow() {
        assertThatThrownBy(() -> Registries.open("nacos://127.0.0.1:8848?password=hunter2"))
                .isInstanceOf(InvalidOptionException.class).hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> Registries.open("nacos://u:hunter2@127.0.0.1:8848?bogus=1"))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("bogus")
                .hasMessageNotContaining("hunter2");
    }

    @Test
    void givenClientExcludesClientOptions() {
        NamingService unused = (NamingService) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {NamingService.class}, (proxy, method, args) -> {
                    throw new UnsupportedOperationException(method.getName());
                });
        assertThatThrownBy(() -> NacosRegistry.builder().serverAddr("127.0.0.1:8848").namingService(unused).build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("NamingService");
        assertThatThrownBy(() -> NacosRegistry.builder().build()).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("serverAddr");
    }

    @Test
    void portDefaultsTo8848AndDescriptionNamesTheServer() {
        // Nothing listens there: opening still works (nacos-client keeps trying), and close() returns.
        try (Registry registry = Registries.open("nacos://127.0.0.1?namespace=dev&group=ORDERS")) {
            assertThat(registry.toString()).contains("nacos at 127.0.0.1:8848 (namespace dev, group ORDERS)");
        }
    }
}
