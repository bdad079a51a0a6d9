package io.roster.zookeeper;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** With digest credentials, our nodes are ours alone, refused by the server itself to anyone else. */
class ZooKeeperDigestAclTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    /** Kratos's zk.DigestACL identity, computed independently: user:base64(sha1(user:password)). */
    private static List<ACL> kratosDigestAcl(String user, String password) throws Exception {
        byte[] sha1 = MessageDigest.getInstance("SHA-1").digest((user + ":" + password).getBytes(StandardCharsets.UTF_8));
        return List.of(new ACL(ZooDefs.Perms.ALL, new Id("digest", user + ":" + Base64.getEncoder().encodeToString(sha1))));
    }

    @Test
    void onlyTheDigestIdentityCanReadChangeOrDeleteOurNodes() throws Exception {
        String root = "/secure-" + UUID.randomUUID();
        String uri = "zookeeper://" + server.getConnectString() + root + "?sessionTimeout=3s&digest=app:s3cr%3At";
        String service = TestInstances.serviceName("secure");
        ServiceInstance instance = TestInstances.of(service, "i-1");
        String path = root + "/" + service + "/i-1";
        try (Registry registry = Registries.open(uri);
             CuratorFramework owner = Sessions.plainClient(server.getConnectString(), "app:s3cr:t")) {
            registry.register(instance);

            List<ACL> expected = kratosDigestAcl("app", "s3cr:t");
            for (String p : List.of(root, root + "/" + service, path)) {
                assertThat(owner.getACL().forPath(p)).as("ACL of " + p).isEqualTo(expected);
            }
            assertThatThrownBy(() -> plain.delete().forPath(path)).isInstanceOf(KeeperException.NoAuthException.class);
            assertThatThrownBy(() -> plain.setData().forPath(path, "{}".getBytes()))
                    .isInstanceOf(KeeperException.NoAuthException.class);
            assertThatThrownBy(() -> plain.getData().forPath(path)).isInstanceOf(KeeperException.NoAuthException.class);
            assertThatThrownBy(() -> plain.create().forPath(root + "/" + service + "/intruder"))
                    .isInstanceOf(KeeperException.NoAuthException.class);

            for (String stranger : List.of("zookeeper://" + server.getConnectString() + root,
                    "zookeeper://" + server.getConnectString() + root + "?digest=app:wrong")) {
                try (Registry other = Registries.open(stranger)) {
                    assertThatThrownBy(() -> other.getService(service)).as(stranger)
                            .isInstanceOf(RegistryAccessDeniedException.class);
                    assertThatThrownBy(() -> other.register(TestInstances.of(service, "i-2"))).as(stranger)
                            .isInstanceOf(RegistryAccessDeniedException.class);
                    other.deregister(instance); // not this registry's instance: nothing is touched
                    assertThat(registry.getService(service)).as(stranger).containsExactly(instance);
                }
            }

            try (Registry colleague = Registries.open(uri); Watcher watcher = colleague.watch(service)) {
                assertThat(colleague.getService(service)).containsExactly(instance);
                assertThat(watcher.next(BOUND)).contains(List.of(instance));
                registry.deregister(instance);
                Watching.awaitIds(watcher, BOUND, Set.of());
            }
            assertThat(plain.checkExists().forPath(path)).as("deleted by its owner").isNull();
        }
    }

    @Test
    void suppliedClientAuthenticatedByItsOwner() throws Exception {
        String root = "/secure-" + UUID.randomUUID();
        String service = TestInstances.serviceName("supplied");
        CuratorFramework client = CuratorFrameworkFactory.builder().connectString(server.getConnectString())
                .authorization("digest", "ops:pw".getBytes(StandardCharsets.UTF_8))
                .sessionTimeoutMs(3_000).connectionTimeoutMs(2_000).retryPolicy(new RetryOneTime(100)).build();
        client.start();
        try (client) {
            assertThat(client.blockUntilConnected(10, TimeUnit.SECONDS)).isTrue();
            try (Registry registry = ZooKeeperRegistry.builder().client(client).rootPath(root).digest("ops", "pw")
                    .build()) {
                registry.register(TestInstances.of(service, "i-1"));
                assertThat(client.getACL().forPath(root + "/" + service + "/i-1"))
                        .isEqualTo(kratosDigestAcl("ops", "pw"));
                assertThatThrownBy(() -> plain.delete().forPath(root + "/" + service + "/i-1"))
                        .isInstanceOf(KeeperException.NoAuthException.class);
                assertThat(Watching.ids(registry.getService(service))).containsExactly("i-1");
            }
            assertThat(client.getZookeeperClient().isConnected()).as("a supplied client is left open").isTrue();
            assertThat(client.checkExists().forPath(root + "/" + service + "/i-1"))
                    .as("closing deregistered, although the session lives on").isNull();
        }
    }
}
