package io.roster;

import org.junit.jupiter.api.Test;

import java.net.URI;

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

    @Test
    void unknownSchemeMessageNeverShowsSecrets() {
        assertThatThrownBy(() -> Registries.open("nosuch://root:s3cr3t@127.0.0.1:1?token=t0k"))
                .hasMessageNotContaining("s3cr3t").hasMessageNotContaining("t0k");
    }
}
