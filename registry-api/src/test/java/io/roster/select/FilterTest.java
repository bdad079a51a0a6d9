package io.roster.select;

import io.roster.InvalidOptionException;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.roster.select.TestNodes.SERVICE;
import static io.roster.select.TestNodes.instance;
import static io.roster.select.TestNodes.sequence;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FilterTest {
    private static final ServiceInstance V1_A = instance(0, "zone", "a", "env", "prod");
    private static final ServiceInstance V1_B = instance(1, "zone", "b", "env", "prod");
    private static final ServiceInstance V2_A = instance(2, "zone", "a", "env", "staging").toBuilder()
            .version("v2").build();
    private static final List<ServiceInstance> ALL = List.of(V1_A, V1_B, V2_A);

    private static List<String> candidates(Selector selector) {
        return selector.nodes().stream().map(n -> n.instance().id()).collect(java.util.stream.Collectors.toList());
    }

    private static Selector.Builder builder() {
        return Selector.builder(SERVICE, "grpc");
    }

    @Test
    void versionKeepsExactMatchesOnly() {
        Selector selector = builder().filter(Filter.version("v2")).build();
        selector.update(ALL);
        assertThat(candidates(selector)).containsExactly("i2");

        selector.update(List.of(V1_A, V2_A.toBuilder().version("v2.0").build()));
        assertThatThrownBy(selector::select).isInstanceOf(NoAvailableInstanceException.class);
    }

    @Test
    void metadataKeepsEqualValues() {
        Selector selector = builder().filter(Filter.metadata("env", "prod")).build();
        selector.update(ALL);
        assertThat(candidates(selector)).containsExactly("i0", "i1");
    }

    @Test
    void preferKeepsThePreferredZoneAndFallsBackToAllWhenItIsEmpty() {
        Selector selector = builder().filter(Filter.prefer("zone", "b")).build();
        selector.update(ALL);
        assertThat(candidates(selector)).containsExactly("i1");
        assertThat(sequence(selector, 3)).containsOnly("i1");

        selector.update(List.of(V1_A, V2_A)); // zone b is gone: every instance is a candidate again
        assertThat(candidates(selector)).containsExactly("i0", "i2");

        selector.update(ALL);
        assertThat(candidates(selector)).containsExactly("i1");
    }

    @Test
    void filtersComposeInOrder() {
        // Preferring zone b first leaves i1 (v1), which the version filter then removes: nothing is left.
        Selector preferFirst = builder().filter(Filter.prefer("zone", "b")).filter(Filter.version("v2")).build();
        preferFirst.update(ALL);
        assertThat(candidates(preferFirst)).isEmpty();

        // The version filter first leaves i2 (zone a); no zone-b instance among them, so prefer keeps i2.
        Selector versionFirst = builder().filter(Filter.version("v2")).filter(Filter.prefer("zone", "b")).build();
        versionFirst.update(ALL);
        assertThat(candidates(versionFirst)).containsExactly("i2");
    }

    @Test
    void predicateFilterSeesWholeInstances() {
        Selector selector = builder()
                .filter(Filter.matching("id ends with 1", instance -> instance.id().endsWith("1"))).build();
        selector.update(ALL);
        assertThat(candidates(selector)).containsExactly("i1");
    }

    @Test
    void instancesWithoutAnEndpointOfTheSchemeAreSkipped() {
        ServiceInstance httpOnly = ServiceInstance.builder().name(SERVICE).id("web").endpoint("http://10.1.1.1:80")
                .build();
        Selector grpc = builder().build();
        grpc.update(List.of(httpOnly, V1_A));
        assertThat(candidates(grpc)).containsExactly("i0");
        assertThat(grpc.select().endpoint()).hasToString("grpc://10.0.0.1:9000");

        Selector http = Selector.builder(SERVICE, "http").build();
        http.update(List.of(httpOnly, V1_A));
        assertThat(candidates(http)).containsExactly("web", "i0");
    }

    @Test
    void nothingLeftNamesServiceSchemeAndFilters() {
        Selector selector = Selector.builder(SERVICE, "grpcs").filter(Filter.version("v9"))
                .filter(Filter.prefer("zone", "c")).build();
        assertThatThrownBy(selector::select).isInstanceOf(NoAvailableInstanceException.class)
                .hasMessageContaining("'greeter'").hasMessageContaining("no instance list received yet");

        selector.update(ALL);
        assertThatThrownBy(selector::select)
                .isInstanceOfSatisfying(NoAvailableInstanceException.class, e -> {
                    assertThat(e.service()).isEqualTo(SERVICE);
                    assertThat(e.scheme()).isEqualTo("grpcs");
                })
                .hasMessage("no instance of service 'greeter' to select (scheme 'grpcs', filters [version=v9, "
                        + "prefer zone=c]): 3 instance(s) listed, 0 with a 'grpcs' endpoint, 0 left after the filters");

        Selector filtered = builder().filter(Filter.version("v9")).build();
        filtered.update(ALL);
        assertThatThrownBy(filtered::select).hasMessageEndingWith(
                "(scheme 'grpc', filters [version=v9]): 3 instance(s) listed, 3 with a 'grpc' endpoint, "
                        + "0 left after the filters");

        filtered.update(List.of(V2_A.toBuilder().version("v9").build()));
        assertThat(filtered.select().instance().id()).isEqualTo("i2");
    }

    @Test
    void badSchemeIsRejected() {
        assertThatThrownBy(() -> Selector.builder(SERVICE, "GRPC")).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("lower-case");
        assertThatThrownBy(() -> Selector.builder(SERVICE, null)).isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("scheme");
        assertThatThrownBy(() -> Selector.builder(SERVICE, "grpc").filter(null))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("filter");
        assertThatThrownBy(() -> Selector.builder(SERVICE, "grpc").balancer(null))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("balancer");
        assertThatThrownBy(() -> Selector.builder(SERVICE, "grpc").watch(null))
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("watcher");
        assertThat(Selector.builder("_private.svc", "grpc").build()).isNotNull();
        assertThatThrownBy(() -> Selector.builder("", "grpc")).isInstanceOf(io.roster.InvalidInstanceException.class);
    }
}
