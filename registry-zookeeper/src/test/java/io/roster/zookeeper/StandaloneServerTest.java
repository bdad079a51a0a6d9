package io.roster.zookeeper;

import io.roster.Registries;
import io.roster.Registry;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

import java.util.ArrayList;
import java.util.List;

/**
 * One real standalone server per test class, a plain Curator client to look at it with, and registries that are
 * closed after each test.
 */
abstract class StandaloneServerTest {
    static TestingServer server;
    /** Not authenticated: sees what any other client of the ensemble would. */
    static CuratorFramework plain;
    private final List<Registry> opened = new ArrayList<>();

    @BeforeAll
    static void startServer() throws Exception {
        server = ZooKeeperServers.standalone();
        plain = Sessions.plainClient(server.getConnectString());
    }

    @AfterAll
    static void stopServer() throws Exception {
        plain.close();
        server.close();
    }

    @AfterEach
    void closeRegistries() {
        opened.forEach(Registry::close);
        opened.clear();
    }

    /**
     * Opens a registry on the server, closed after the test.
     *
     * @param pathAndQuery what follows the host in the URI, such as {@code /root?sessionTimeout=3s}
     */
    ZooKeeperRegistry open(String pathAndQuery) {
        Registry registry = Registries.open("zookeeper://" + server.getConnectString() + pathAndQuery);
        opened.add(registry);
        return (ZooKeeperRegistry) registry;
    }
}
