package io.roster.zookeeper;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;

import java.time.Duration;
import java.util.List;

/**
 * Opens registries on a test server through {@link Registries}, as a user would, with a short session timeout.
 */
final class ZooKeeperFixture implements io.roster.testkit.RegistryFixture {
    private final String connectString;
    private final String root;

    ZooKeeperFixture(String connectString, String root) {
        this.connectString = connectString;
        this.root = root;
    }

    String uri() {
        return "zookeeper://" + connectString + root + "?sessionTimeout=" + ZooKeeperServers.SESSION_TIMEOUT.toMillis()
                + "ms&connectionTimeout=2s";
    }

    @Override
    public Registry open() {
        return Registries.open(uri());
    }

    /** Closes the session without deleting anything; the server drops its ephemeral nodes with it. */
    @Override
    public void kill(Registry registry) {
        ((ZooKeeperRegistry) registry).kill();
    }

    /** A crashed process leaves its nodes until its session expires: the session timeout, plus slack. */
    @Override
    public Duration deathBound() {
        return ZooKeeperServers.SESSION_TIMEOUT.plusSeconds(7);
    }

    @Override
    public boolean isServerThread(Thread thread) {
        return ZooKeeperServers.isServerThread(thread);
    }

    @Override
    public List<ServiceInstance> backendInvalidInstances(String service) {
        return List.of(
                TestInstances.instance(service, ".").build(),
                TestInstances.instance(service, "..").build(),
                TestInstances.instance(service, "private-\uE000").build(),
                TestInstances.instance(service + "-\uD83D\uDE00", "emoji").build(),
                TestInstances.instance(service, "huge").metadata("blob", "x".repeat(ZooKeeperNodes.DEFAULT_MAX_RECORD_BYTES))
                        .build());
    }
}
