package io.roster.grpc;

import io.roster.ServiceInstance;
import io.roster.select.Balancer;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RosterPolicyTest {

    @Test
    void readsEveryKeyAndWritesItBack() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("balancer", "power-of-two-choices");
        json.put("version", "v2");
        json.put("metadata", Map.of("canary", "false"));
        json.put("prefer", new LinkedHashMap<>(Map.of("zone", "eu-west-1a")));
        RosterPolicy policy = RosterPolicy.fromJson(json);

        assertThat(policy.balancerName()).isEqualTo("power_of_two_choices");
        assertThat(policy.balancer()).isSameAs(Balancer.powerOfTwoChoices());
        assertThat(policy.requirements()).hasToString("[version=v2, metadata canary=false]");
        assertThat(policy.preferences()).hasToString("[prefer zone=eu-west-1a]");
        assertThat(RosterPolicy.fromJson(policy.toJson())).isEqualTo(policy);
        assertThat(policy.toServiceConfig()).isEqualTo(Map.of("loadBalancingConfig",
                List.of(Map.of("roster", policy.toJson()))));
    }

    @Test
    void balancerNamesAndAliases() {
        assertThat(RosterPolicy.defaults().balancer()).isSameAs(Balancer.roundRobin());
        assertThat(RosterPolicy.builder().balancer("P2C").build().balancer()).isSameAs(Balancer.powerOfTwoChoices());
        assertThat(RosterPolicy.builder().balancer("least_requests").build().balancer())
                .isSameAs(Balancer.leastRequests());
        assertThat(RosterPolicy.builder().balancer("weighted-round-robin").build().balancer())
                .isSameAs(Balancer.weightedRoundRobin());
        assertThat(RosterPolicy.builder().balancer("random").build().balancer()).isSameAs(Balancer.random());
        assertThatThrownBy(() -> RosterPolicy.builder().balancer("fastest"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown balancer 'fastest'");
    }

    @Test
    void badConfigsAreRefusedNamingTheKey() {
        assertThatThrownBy(() -> RosterPolicy.fromJson(Map.of("versions", "v1")))
                .hasMessageContaining("unknown key 'versions'");
        assertThatThrownBy(() -> RosterPolicy.fromJson(Map.of("version", 2.0))).hasMessageContaining("'version'");
        assertThatThrownBy(() -> RosterPolicy.fromJson(Map.of("metadata", "canary=false")))
                .hasMessageContaining("'metadata'");
        assertThatThrownBy(() -> RosterPolicy.fromJson(Map.of("prefer", Map.of("zone", 1.0))))
                .hasMessageContaining("'prefer.zone'");
    }

    @Test
    void requirementsKeepMatchingInstancesAndPreferencesFallBack() {
        ServiceInstance v1 = ServiceInstance.builder().name("s").id("1").version("v1").metadata("zone", "a")
                .endpoint("grpc://127.0.0.1:1").build();
        ServiceInstance v2 = ServiceInstance.builder().name("s").id("2").version("v2").metadata("zone", "b")
                .endpoint("grpc://127.0.0.1:2").build();
        RosterPolicy policy = RosterPolicy.builder().version("v2").prefer("zone", "c").build();
        assertThat(policy.requirements().get(0).apply(List.of(v1, v2))).containsExactly(v2);
        assertThat(policy.preferences().get(0).apply(List.of(v1, v2))).containsExactly(v1, v2);
    }

    @Test
    void equalityFollowsTheSettingsInOrder() {
        RosterPolicy ab = RosterPolicy.builder().prefer("zone", "a").prefer("rack", "b").build();
        assertThat(ab).isEqualTo(RosterPolicy.builder().prefer("zone", "a").prefer("rack", "b").build())
                .hasSameHashCodeAs(RosterPolicy.builder().prefer("zone", "a").prefer("rack", "b").build());
        assertThat(ab).isNotEqualTo(RosterPolicy.builder().prefer("rack", "b").prefer("zone", "a").build());
        assertThat(RosterPolicy.defaults()).hasToString("roster{balancer=round_robin}");
    }
}
