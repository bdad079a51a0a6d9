package io.roster.zookeeper;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.RegistryUnavailableException;
import io.roster.testkit.FreePorts;
import io.roster.testkit.ThreadLeaks;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** URI options and builder settings: bad input fails naming the option, secrets never show, nothing leaks. */
class ZooKeeperOptionsTest {
    private static final String HOST = "127.0.0.1:2181";

    @Test
    void schemeIsAvailable() {
        assertThat(Registries.schemes()).contains("zookeeper");
    }

    @Test
    void badUriOptionsAreRejectedNamingTheOptionAndHidingTheSecret() {
        assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "?digest=app:hunter2&sesionTimeout=5s"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("sesionTimeout"))
                .hasMessageContaining("sessionTimeout").hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "?sessionTimeout=soon"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("sessionTimeout"));
        assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "?connectionTimeout=0s"))
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("connectionTimeout"));
        assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "?digest=hunter2"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("digest"))
                .hasMessageNotContaining("hunter2");
        assertThatThrownBy(() -> Registries.open("zookeeper://app:hunter2@" + HOST))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("digest"))
                .hasMessageContaining("?digest=user:password").hasMessageNotContaining("hunter2");
        for (String limit : new String[] {"0", "-1", "lots"}) {
            assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "?maxRecordBytes=" + limit))
                    .isInstanceOfSatisfying(InvalidOptionException.class,
                            e -> assertThat(e.option()).isEqualTo("maxRecordBytes"));
        }
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().maxRecordBytes(0))
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("maxRecordBytes"));
        assertThatThrownBy(() -> Registries.open("zookeeper:///microservices"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("hosts"));
        assertThatThrownBy(() -> Registries.open("zookeeper://" + HOST + "/a//b"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("rootPath"));
    }

    @Test
    void builderRejectsContradictionsAndMasksThePassword() {
        CuratorFramework latent = CuratorFrameworkFactory.newClient(HOST, new RetryOneTime(1));
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("exactly one");
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().connectString(HOST).client(latent).build())
                .isInstanceOf(InvalidOptionException.class).hasMessageContaining("exactly one");
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().client(latent).build())
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("client"))
                .hasMessageContaining("started");
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().client(latent).sessionTimeout(Duration.ofSeconds(5)).build())
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("sessionTimeout"));
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().rootPath("relative"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("rootPath"));
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().sessionTimeout(Duration.ofMillis(-1)))
                .isInstanceOfSatisfying(InvalidOptionException.class,
                        e -> assertThat(e.option()).isEqualTo("sessionTimeout"));
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().digest("a:b", "pw"))
                .isInstanceOfSatisfying(InvalidOptionException.class, e -> assertThat(e.option()).isEqualTo("digest"));
        assertThatThrownBy(() -> ZooKeeperRegistry.builder().digest("app", ""))
                .isInstanceOf(InvalidOptionException.class);

        String described = ZooKeeperRegistry.builder().connectString(HOST).rootPath("/svc/").digest("app", "hunter2")
                .toString();
        assertThat(described).contains("app:***", "rootPath=/svc").doesNotContain("hunter2");
    }

    @Test
    void unreachableEnsembleFailsWithinTheConnectionTimeoutAndLeavesNoThread() throws Exception {
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        long start = System.nanoTime();
        assertThatThrownBy(() -> Registries.open("zookeeper://127.0.0.1:" + FreePorts.next()
                + "?connectionTimeout=500ms&digest=app:hunter2"))
                .isInstanceOf(RegistryUnavailableException.class).hasMessageContaining("500ms")
                .hasMessageNotContaining("hunter2");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        before.assertNoNewThreads(Duration.ofSeconds(10), t -> false);
    }
}
